"""The board's pages as HTML: layout, board, task, new task, statistics, login.

Every value from the database or the request goes through h() (web/html.py). Forms carry
the CSRF token; in read-only mode no form that writes is drawn.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from validators.roles import REVIEW
from web.charts import STATUSES, bar_chart, line_chart, status_series
from web.html import Safe, h, join, url

TYPES = ("human_task", "ai_task", "mixed")
PRIORITIES = ("urgent", "high", "normal", "low")
NOTICES = {  # ?ok=... after an action: fixed texts, nothing from the query string is shown
    "created": "Task created.", "commented": "Comment added.", "taken": "The task is yours: in progress.",
    "approved": "Approved: the task is completed.", "sent_back": "Sent back: the task is pending again, with your comment.",
}


@dataclass
class View:
    """Who is looking, and what the page may offer them."""

    who: str | None  # the actor; None: not signed in (login pages only)
    csrf: str
    read_only: bool
    keys: bool  # MCP_API_KEYS set: sign in / sign out instead of a name
    events: str | None = None  # the SSE URL when live updates are on
    scopes: frozenset[str] | None = None  # the signed-in key's role as scopes (validators/roles.py); None: every right

    def may(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes


def _hidden(view: View) -> Safe:
    return h('<input type="hidden" name="csrf" value="{}">', view.csrf)


def layout(view: View, title: str, body: Safe, *, notice: str | None = None, error: str | None = None) -> Safe:
    nav = Safe("")
    who = Safe("")
    if view.who is not None:
        nav = h('<nav><a href="/">Board</a><a href="/stats">Statistics</a>{}</nav>',
                Safe("") if view.read_only else h('<a href="/new">New task</a>'))
        if view.keys:
            who = h('<form method="post" action="/logout" class="who">{}Signed in as <b>{}</b> <button>Sign out</button></form>',
                    _hidden(view), view.who)
        else:
            who = h('<form method="post" action="/name" class="who">{}<label>You are <input name="name" value="{}" maxlength="100" '
                    'required size="12"></label> <button>Change</button></form>', _hidden(view), view.who)
    flags = join([
        h('<span class="flag">read-only</span>') if view.read_only else "",
        h('<span id="live-state" class="flag" hidden>live</span>') if view.events else "",
    ])
    messages = join([
        h('<p class="notice" role="status">{}</p>', notice) if notice else "",
        h('<p class="refusal" role="alert">{}</p>', error) if error else "",
    ])
    events = h(' data-events="{}"', view.events) if view.events else Safe("")
    return h(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>{} · mcp-tasks</title><link rel="stylesheet" href="/static/board.css">'
        '<script src="/static/board.js" defer></script></head>'
        '<body{}><header><a class="brand" href="/">mcp-tasks</a>{}{}{}</header>'
        '<div id="messages">{}</div><main id="live">{}</main></body></html>',
        title, events, nav, flags, who, messages, body,
    )


# ---- board -----------------------------------------------------------------------------------


def _options(values: tuple[str, ...], chosen: str | None, blank: str) -> Safe:
    opts = [h('<option value="">{}</option>', blank)]
    opts += [h('<option value="{}"{}>{}</option>', v, Safe(" selected") if v == chosen else Safe(""), v.replace("_", " "))
             for v in values]
    return join(opts)


def filters_form(f: dict[str, Any]) -> Safe:
    ready = {True: "ready", False: "blocked"}.get(f.get("ready"))
    return h(
        '<form class="filters" method="get" action="/">'
        '<input type="search" name="search" value="{}" placeholder="Search title and description" maxlength="200">'
        '<select name="type" aria-label="Type">{}</select>'
        '<select name="priority" aria-label="Priority">{}</select>'
        '<input name="label" value="{}" placeholder="Label" maxlength="50" size="10">'
        '<select name="ready" aria-label="Ready or blocked">{}</select>'
        '<input name="assignee" value="{}" placeholder="Assignee" maxlength="100" size="10">'
        '<button>Filter</button> <a href="/">Clear</a></form>',
        f.get("search") or "", _options(TYPES, f.get("type"), "any type"), _options(PRIORITIES, f.get("priority"), "any priority"),
        f.get("label") or "", _options(("ready", "blocked"), ready, "ready or blocked"), f.get("assignee") or "",
    )


def _badges(task: dict[str, Any]) -> Safe:
    parts = [h('<span class="type">{}</span>', task["type"].replace("_", " "))]
    if task.get("priority") and task["priority"] != "normal":
        parts.append(h('<span class="prio prio-{}">{}</span>', task["priority"], task["priority"]))
    parts += [h('<span class="label">{}</span>', label) for label in task.get("labels") or []]
    if task.get("review"):
        parts.append(h('<span class="review">waits for review</span>'))
    return join(parts)


def card(task: dict[str, Any]) -> Safe:
    return h(
        '<li class="card" data-task="{}"><a href="/tasks/{}"><span class="id">#{}</span> <span class="title">{}</span></a>'
        '<div class="badges">{}</div><div class="meta">by {}</div></li>',
        task["id"], task["id"], task["id"], task["title"], _badges(task), task["created_by"],
    )


def board_page(columns: dict[str, dict[str, Any]], f: dict[str, Any]) -> Safe:
    cols = []
    for status in STATUSES:
        page = columns[status]
        more = Safe("")
        if page["next_offset"] is not None:
            more = h('<a class="more" href="{}">more…</a>', url("/", **{**_query(f), "status": status, "offset": page["next_offset"]}))
        total = f"{page['total']}{'' if page['total_exact'] else '+'}"
        cols.append(h(
            '<section class="column" data-status="{}"><h2><span class="dot" data-status="{}"></span>{} <span class="count">{}</span></h2>'
            '<ul>{}</ul>{}</section>',
            status, status, status.replace("_", " "), total,
            join(card(t) for t in page["tasks"]) or h('<li class="empty">none</li>'), more,
        ))
    return h('{}<div class="columns">{}</div>', filters_form(f), join(cols))


def _query(f: dict[str, Any]) -> dict[str, Any]:
    q = {k: f.get(k) for k in ("search", "type", "priority", "label", "assignee")}
    q["ready"] = {True: "ready", False: "blocked"}.get(f.get("ready"))
    return q


# ---- one task --------------------------------------------------------------------------------


def _ref(ref: dict[str, Any]) -> Safe:
    return h('<a href="/tasks/{}">#{} {}</a> <span class="status" data-status="{}">{}</span>',
             ref["id"], ref["id"], ref["title"], ref["status"], ref["status"].replace("_", " "))


def _table(head: tuple[str, ...], rows: list[tuple[Any, ...]]) -> Safe:
    if not rows:
        return h('<p class="empty">none</p>')
    return h('<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
             join(h("<th>{}</th>", c) for c in head),
             join(h("<tr>{}</tr>", join(h("<td>{}</td>", c) for c in row)) for row in rows))


def _who(name: str, kind: str) -> str:
    """'mistral (ollama)' stays as it is; 'dana' becomes 'dana (human)'."""
    return name if name.endswith(f"({kind})") else f"{name} ({kind})"


def _money(value: Any) -> str:
    return "" if value is None else f"${float(value):.4f}"


def _duration(ms: Any) -> str:
    if ms is None:
        return ""
    ms = int(ms)
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def waits_for_review(task: dict[str, Any]) -> bool:
    """In progress with a result: what tasks_execute leaves without auto_complete. The board's
    cards ask the repository's waiting_for_review, which keeps this rule in one SQL read."""
    return task["status"] == "in_progress" and bool(task["results"])


def can_take(task: dict[str, Any]) -> bool:
    return task["status"] == "pending" and task["type"] in ("human_task", "mixed") and task.get("ready") is not False


def task_page(view: View, task: dict[str, Any], form: dict[str, str] | None = None) -> Safe:
    form = form or {}
    facts = [
        ("Status", h('<span class="status" data-status="{}">{}</span>', task["status"], task["status"].replace("_", " "))),
        ("Type", task["type"].replace("_", " ")), ("Priority", task.get("priority") or "normal"),
        ("Labels", ", ".join(task.get("labels") or []) or "—"),
        ("Created", f"{task['created_at']} by {task['created_by']} ({task['created_by_type']})"),
        ("Updated", task["updated_at"]), ("Due", task["due_date"] or "—"),
    ]
    if task.get("completed_at"):
        facts.append(("Completed", task["completed_at"]))
    if task.get("held_by"):
        facts.append(("Held by", f"{task['held_by']} until {task['lease_expires_at']}"
                      + (" (lease ran out)" if task.get("lease_expired") else "")))
    if task.get("parent"):
        facts.append(("Parent", _ref(task["parent"])))
    if task["status"] == "pending" and task.get("ready") is not None:
        facts.append(("Ready", "yes" if task["ready"] else "no: waiting for a blocker"))
    relations = []
    if task.get("depends_on"):
        relations.append(h("<h3>Depends on</h3><ul>{}</ul>", join(h("<li>{}</li>", _ref(r)) for r in task["depends_on"])))
    if task.get("blocks"):
        relations.append(h("<h3>Blocks</h3><ul>{}</ul>", join(h("<li>{}</li>", _ref(r)) for r in task["blocks"])))
    results = []
    for r in task["results"]:
        response = h('<details><summary>response{}</summary><pre>{}</pre></details>',
                     " (cut)" if r.get("response_truncated") else "", r["response"] or "") if r.get("response") else ""
        results.append((f"#{r['id']}", _who(r["executor"], r["executor_type"]), r["model_name"] or "", r["status"],
                        r["tokens_input"] if r["tokens_input"] is not None else "",
                        r["tokens_output"] if r["tokens_output"] is not None else "",
                        r["tokens_total"] if r["tokens_total"] is not None else "", _money(r["cost_usd"]),
                        _duration(r["duration_ms"]), join([r["error_message"] or "", response])))
    history = [h('<li class="event" data-kind="{}"><span class="when">{}</span> <b>{}</b> <span class="kind">{}</span>'
                 '<div class="content">{}</div></li>', c["comment_type"], c["created_at"], c["author"], c["comment_type"],
                 c["content"]) for c in task["comments"]]
    body = h(
        '<article class="task" data-task="{}" data-status="{}"><h1><span class="id">#{}</span> <span class="title">{}</span></h1>'
        '<div class="badges">{}</div><dl class="facts">{}</dl>'
        '<section><h2>Description</h2><div class="description">{}</div></section>{}'
        '<section><h2>Subtasks</h2>{}</section>'
        '<section><h2>Assignments</h2>{}</section>'
        '<section><h2>Results</h2>{}</section>'
        '<section><h2>History</h2>{}<ol class="history">{}</ol></section></article>',
        task["id"], task["status"], task["id"], task["title"], _badges({**task, "review": waits_for_review(task)}),
        join(h("<dt>{}</dt><dd>{}</dd>", k, v) for k, v in facts),
        task["description"] or h('<span class="empty">no description</span>'), join(relations),
        h("<ul>{}</ul>", join(h("<li>{}</li>", _ref(s)) for s in task["subtasks"])) if task["subtasks"] else h('<p class="empty">none</p>'),
        _table(("#", "assignee", "model", "status", "assigned", "by", "notes"), [
            (a["id"], _who(a["assignee"], a["assignee_type"]), a["model_name"] or "", a["status"], a["assigned_at"],
             a["assigned_by"], a["notes"] or "") for a in task["assignments"]]),
        _table(("#", "executor", "model", "status", "tokens in", "tokens out", "tokens", "cost", "duration", ""), results),
        h('<p class="empty">(the latest {} entries)</p>', len(task["comments"])) if task.get("comments_truncated") else "",
        join(history),
    )
    return join([body, Safe("") if view.read_only else actions(view, task, form)])


def actions(view: View, task: dict[str, Any], form: dict[str, str]) -> Safe:
    tid = task["id"]
    # The version the person saw: the repository refuses the move if the task changed since.
    seen = join([_hidden(view), h('<input type="hidden" name="updated_at" value="{}">', task["updated_at"])])
    parts = []
    if waits_for_review(task) and view.may(REVIEW):
        parts.append(h(
            '<section class="review-box"><h2>Review</h2><p>This task is in progress with a result: approve it (completed) '
            'or send it back (pending) with a comment.</p>'
            '<form method="post" action="/tasks/{}/approve" class="inline">{}<button class="approve">Approve</button></form>'
            '<form method="post" action="/tasks/{}/send-back">{}<textarea name="content" rows="3" required maxlength="65535" '
            'placeholder="What should change?">{}</textarea><button class="send-back">Send back</button></form></section>',
            tid, seen, tid, seen, form.get("send_back", ""),
        ))
    if can_take(task):
        parts.append(h('<form method="post" action="/tasks/{}/take" class="inline">{}<button class="take">Take it (assign to me, '
                       'in progress)</button></form>', tid, seen))
    parts.append(h(
        '<section><h2>Comment</h2><form method="post" action="/tasks/{}/comment">{}<textarea name="content" rows="3" required '
        'maxlength="65535">{}</textarea><button class="comment">Comment</button></form></section>',
        tid, _hidden(view), form.get("comment", ""),
    ))
    return h('<div class="actions">{}</div>', join(parts))


# ---- new task, statistics, login -------------------------------------------------------------


def new_task_page(view: View, form: dict[str, str]) -> Safe:
    return h(
        '<h1>New task</h1><form method="post" action="/new" class="new-task">{}'
        '<label>Title <input name="title" value="{}" required maxlength="255"></label>'
        '<label>Description <textarea name="description" rows="6" maxlength="65535">{}</textarea></label>'
        '<label>Type <select name="type">{}</select></label>'
        '<label>Priority <select name="priority">{}</select></label>'
        '<label>Labels <input name="labels" value="{}" placeholder="comma separated"></label>'
        '<label>Parent task id <input name="parent_task_id" value="{}" inputmode="numeric"></label>'
        '<label>Due <input name="due_date" value="{}" placeholder="2026-12-31 or 2026-12-31T17:00:00Z"></label>'
        '<button>Create</button></form>',
        _hidden(view), form.get("title", ""), form.get("description", ""),
        join(h('<option value="{}"{}>{}</option>', t, Safe(" selected") if t == form.get("type", "human_task") else Safe(""), t)
             for t in TYPES),
        join(h('<option value="{}"{}>{}</option>', p, Safe(" selected") if p == form.get("priority", "normal") else Safe(""), p)
             for p in PRIORITIES),
        form.get("labels", ""), form.get("parent_task_id", ""), form.get("due_date", ""),
    )


def stats_page(stats: dict[str, Any], history: dict[str, Any]) -> Safe:
    series = status_series(history, stats["by_status"])
    models = stats["models"]
    name = lambda m: f"{m['model_name'] or '(no model)'} · {m['executor_type']}"  # noqa: E731
    tokens = bar_chart([(name(m), m["tokens_total"], f"{m['tokens_total']:,}") for m in models], "tokens", "#2f6fdb")
    cost = bar_chart([(name(m), m["cost_usd"], f"${m['cost_usd']:.4f}") for m in models], "cost", "#2e9e5b")
    totals = h(
        '<dl class="facts"><dt>Tasks</dt><dd>{}</dd>{}<dt>Results</dt><dd>{}</dd><dt>Tokens</dt><dd>{} in, {} out, {} total</dd>'
        '<dt>Cost</dt><dd>${}</dd></dl>',
        stats["total"], join(h('<dt>{}</dt><dd>{}</dd>', s.replace("_", " "), stats["by_status"].get(s, 0)) for s in STATUSES),
        stats["results"], f"{stats['tokens_input']:,}", f"{stats['tokens_output']:,}", f"{stats['tokens_total']:,}",
        f"{stats['cost_usd']:.4f}",
    )
    note = h('<p class="empty">Only the most recent changes are drawn (a busy history).</p>') if history["capped"] else ""
    return h(
        '<h1>Statistics</h1>{}<section><h2>Tasks by status over time</h2>{}{}</section>'
        '<section><h2>Tokens per model</h2>{}</section><section><h2>Cost per model</h2>{}</section>',
        totals, line_chart(series), note, tokens, cost,
    )


def login_page(view: View, next_path: str, *, keys: bool = True, provider: bool = False) -> Safe:
    """The key form (MCP_API_KEYS) and/or the link to sign in through the identity provider."""
    link = h('<p><a class="provider-sign-in" href="{}">Sign in with your identity provider</a>; your name there is '
             'recorded as the author of what you do here.</p>', url("/oauth/start", next=next_path)) if provider else ""
    form = h(
        '<p>{}This board takes one of the server\'s API keys (MCP_API_KEYS). Your key\'s name is recorded as '
        'the author of what you do here.</p><form method="post" action="/login" class="login">{}'
        '<input type="hidden" name="next" value="{}"><label>API key <input type="password" name="key" required '
        'autocomplete="current-password"></label><button>Sign in</button></form>',
        "Or: " if provider else "", _hidden(view), next_path,
    ) if keys else ""
    return join([h("<h1>Sign in</h1>"), link, form])


def message_page(text: str) -> Safe:
    return h('<p class="empty">{}</p><p><a href="/">Back to the board</a></p>', text)



def login_throttled_page(seconds: int, until: str, everyone: bool) -> Safe:
    """POST /login refused by web/login_throttle.py: what happened and when to try again."""
    cause = ("There have been too many failed sign-ins to this board from all addresses" if everyone
             else "There have been too many failed sign-ins from your address")
    return h(
        '<h1>Sign-in paused</h1><p class="refusal">{} in the last minute.</p><p>Sign-in is refused for {} more '
        'second{}, until {}. Until then every key is refused without being checked, a correct one too. Wait, then '
        '<a href="/login">sign in again</a>.</p>',
        cause, seconds, "" if seconds == 1 else "s", until,
    )
