// mcp-tasks board: live updates without reload. The server sends one server-sent event per
// change (the change feed). This script reads the page again only when a change can concern
// it (a task page: a change to a task it shows; the board: any change, at most every
// BOARD_EVERY ms; statistics: every STATS_EVERY ms), not while the tab is hidden, and swaps
// only the parts of <main> that differ, keeping what the person is typing. No framework, no
// build step; served from /static.
(function () {
  "use strict";
  var body = document.body;
  // A refused form is answered at the POST's URL; the address bar shows the page it belongs to,
  // so a reload reads the page and never sends the form again.
  var here = body && body.getAttribute("data-here");
  if (here && window.history && history.replaceState) { history.replaceState(null, "", here); }
  var source = body && body.getAttribute("data-events");
  if (!source || !window.EventSource) { return; }
  var state = document.getElementById("live-state");
  var BOARD_EVERY = 1000, STATS_EVERY = 10000, BURST = 120;
  var pending = false, running = false, stale = false, last = 0, timer = null;

  function pageUrl() {
    // A refused form is shown at the POST's URL (/tasks/7/approve): read the task's page instead.
    var m = location.pathname.match(/^\/tasks\/(\d+)\//);
    return m ? "/tasks/" + m[1] : location.pathname + location.search;
  }

  function shownIds() {
    // The tasks this page shows: its cards, its own task, and every task it links to.
    var ids = {}, nodes = document.querySelectorAll("#live [data-task], #live a[href^='/tasks/']");
    for (var i = 0; i < nodes.length; i++) {
      var id = nodes[i].getAttribute("data-task") || (nodes[i].getAttribute("href").match(/^\/tasks\/(\d+)/) || [])[1];
      if (id) { ids[id] = true; }
    }
    return ids;
  }

  function concerns(change) {
    if (location.pathname === "/stats") { return "stats"; }
    if (/^\/tasks\//.test(location.pathname)) {
      if (shownIds()[String(change.task_id)]) { return "now"; }
      return change.kind === "created" ? "board" : null;  // perhaps a new subtask of this one
    }
    return "board";  // a change anywhere may move a task into a column's first page
  }

  function keepTyping(oldRoot, newRoot) {
    var fields = oldRoot.querySelectorAll("textarea, input[type=text], input:not([type])");
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i], form = f.form ? f.form.getAttribute("action") : "";
      if (!f.name || !f.value) { continue; }
      var twin = newRoot.querySelector('form[action="' + form + '"] [name="' + f.name + '"]');
      if (twin) { twin.value = f.value; }
    }
  }

  function patch(old, fresh, depth) {
    // Replace only what differs: a column, a card, a section; equal nodes stay as they are.
    if (old.isEqualNode(fresh)) { return; }
    var a = old.children, b = fresh.children;
    if (depth > 0 && old.tagName === fresh.tagName && a.length === b.length && a.length > 0 &&
        old.childNodes.length === a.length && fresh.childNodes.length === b.length) {
      for (var i = 0; i < a.length; i++) { patch(a[i], b[i], depth - 1); }
      return;
    }
    old.replaceWith(document.importNode(fresh, true));
  }

  function refresh() {
    if (running) { pending = true; return; }
    running = true;
    last = Date.now();
    fetch(pageUrl(), { credentials: "same-origin", cache: "no-store", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (!text) { return; }
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.getElementById("live"), live = document.getElementById("live");
        if (!fresh || !live) { return; }
        var focused = document.activeElement && live.contains(document.activeElement) ? document.activeElement : null;
        var focusKey = focused && focused.name ? [focused.form && focused.form.getAttribute("action"), focused.name] : null;
        keepTyping(live, fresh);
        fresh.id = "live";
        if (live.childNodes.length === fresh.childNodes.length && live.children.length === fresh.children.length) {
          for (var i = 0; i < live.children.length; i++) { patch(live.children[i], fresh.children[i], 4); }
        } else {
          live.replaceChildren.apply(live, Array.prototype.slice.call(fresh.childNodes));
        }
        if (focusKey && document.activeElement !== focused) {
          var again = live.querySelector('form[action="' + focusKey[0] + '"] [name="' + focusKey[1] + '"]');
          if (again) { again.focus(); }
        }
        document.title = doc.title;
        body.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () { /* the next change or reconnect tries again */ })
      .then(function () {
        running = false;
        if (pending) { pending = false; refresh(); }
      });
  }

  function schedule(kind) {
    if (document.hidden) { stale = true; return; }  // read once when the tab is shown again
    if (timer) { return; }  // several changes in a burst (a claim writes three rows) make one read
    var wait = kind === "now" ? BURST : Math.max(BURST, last + (kind === "stats" ? STATS_EVERY : BOARD_EVERY) - Date.now());
    timer = setTimeout(function () { timer = null; refresh(); }, wait);
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && stale) { stale = false; schedule("now"); }
  });

  var events = new EventSource(source);
  events.addEventListener("open", function () {
    if (state) { state.hidden = false; state.textContent = "live"; state.className = "flag live"; }
  });
  events.addEventListener("error", function () {
    if (state) { state.hidden = false; state.textContent = "reconnecting…"; state.className = "flag"; }
  });
  events.addEventListener("reload", function () {
    // The page was behind by more changes than a stream replays: read it afresh.
    events.close();
    location.reload();
  });
  events.addEventListener("refused", function () {
    events.close();
    if (state) { state.hidden = false; state.textContent = "not live: too many tabs"; state.className = "flag"; }
  });
  events.addEventListener("change", function (event) {
    var change = {};
    try { change = JSON.parse(event.data); } catch (e) { /* an unreadable change still refreshes the board */ }
    var kind = concerns(change);
    if (kind) { schedule(kind); }
  });
})();
