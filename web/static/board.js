// mcp-tasks board: live updates without reload. The server sends one server-sent event per
// change (the change feed); this script reads the current page again and swaps its <main>,
// keeping what the person is typing. No framework, no build step; served from /static.
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
  var pending = false, running = false;

  function pageUrl() {
    // A refused form is shown at the POST's URL (/tasks/7/approve): read the task's page instead.
    var m = location.pathname.match(/^\/tasks\/(\d+)\//);
    return m ? "/tasks/" + m[1] : location.pathname + location.search;
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

  function refresh() {
    if (running) { pending = true; return; }
    running = true;
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
        live.replaceChildren.apply(live, Array.prototype.slice.call(fresh.childNodes));
        if (focusKey) {
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

  var timer = null;
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
  events.addEventListener("change", function () {
    // Several changes in a burst (a claim writes three rows) make one refresh.
    if (timer) { return; }
    timer = setTimeout(function () { timer = null; refresh(); }, 120);
  });
})();
