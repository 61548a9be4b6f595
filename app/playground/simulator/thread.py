"""An issue or pull request thread as a person reads it on GitHub: the opening post, comments and
reviews in order with their authors, the check runs on the head commit with their summaries and
buttons, and the repository's pull requests. The main command prints this.
"""

from __future__ import annotations

import re
import textwrap

from app.playground.simulator.apps import SimApps
from app.playground.simulator.state import CheckRun, Comment, Issue, Review

RULE = "─" * 72
INDENT = "    "
HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
SUMMARY = re.compile(r"<summary>(.*?)</summary>", re.S | re.I)
INVISIBLE_TAGS = re.compile(r"</?(?:sub|sup|b|i|em|strong|p|details)>|<br\s*/?>", re.I)
MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~])")
FENCE = re.compile(r"(^```.*?^```)", re.S | re.M)


def render_thread(sim: SimApps, repo: str, number: int) -> str:
    item = sim.issue(repo, number)
    lines = [*_header(sim, item), RULE]
    for entry in _timeline(sim, item):
        lines += [*_entry(sim, entry), ""]
    if item.pull is not None:
        lines += _check_runs(sim, item)
    lines += _pull_list(sim, repo)
    return "\n".join(lines).rstrip() + "\n"


def _header(sim: SimApps, item: Issue) -> list[str]:
    kind = "pull request" if item.pull else "issue"
    lines = [
        f"{item.repo}#{item.number}  {item.title}",
        f"[{kind}, {item.state}] opened by @{item.user.login}",
    ]
    if item.pull is not None:
        snap = sim.pull_snapshot(item)
        head_owner = sim.repo(item.pull.head_repo).owner.login
        lines.append(f"{head_owner}:{item.pull.head_ref} → {item.pull.base_ref}  (head {snap.head_sha[:7]})")
    if item.labels:
        lines.append("labels: " + ", ".join(item.labels))
    if item.body:
        lines += ["", _indent(readable(item.body))]
    return lines


def _timeline(sim: SimApps, item: Issue) -> list[Comment | Review]:
    entries: list[Comment | Review] = [*sim.world.thread_comments(item.repo, item.number)]
    entries += [r for r in sim.world.thread_reviews(item.repo, item.number) if r.state != "PENDING"]
    return sorted(entries, key=lambda entry: entry.seq)


def _entry(sim: SimApps, entry: Comment | Review) -> list[str]:
    if isinstance(entry, Comment):
        edited = " (edited)" if entry.edits else ""
        head = f"@{entry.user.login} commented{edited}  [comment {entry.id}]"
        return [head, _indent(readable(entry.body))]
    verdict = {"APPROVED": "approved", "CHANGES_REQUESTED": "requested changes", "COMMENTED": "reviewed"}
    head = f"@{entry.user.login} {verdict.get(entry.state, entry.state.lower())} at {entry.commit_id[:7]}"
    return [f"{head}  [review {entry.id}]", *([_indent(readable(entry.body))] if entry.body else [])]


def _check_runs(sim: SimApps, item: Issue) -> list[str]:
    head = sim.pull_snapshot(item).head_sha
    runs = sorted(sim.check_runs_for(item.repo, head), key=lambda run: run.id)
    if not runs:
        return []
    lines = [RULE, f"Check runs on {head[:7]}:"]
    for run in runs:
        lines += _check_run(run)
    return lines


def _check_run(run: CheckRun) -> list[str]:
    state = f"{run.status}/{run.conclusion}" if run.conclusion else run.status
    title = run.output.get("title") or ""
    lines = [f"  {run.name}  {state}" + (f" — {title}" if title else "") + f"  [check run {run.id}]"]
    if run.output.get("summary"):
        lines.append(_indent(readable(str(run.output["summary"]))))
    if run.actions and (run.status != "completed" or run.conclusion == "action_required"):
        buttons = ", ".join(f"[{a.get('label')}] ({a.get('identifier')})" for a in run.actions)
        if buttons:
            lines.append(f"{INDENT}buttons: {buttons}")
    return lines


def _pull_list(sim: SimApps, repo: str) -> list[str]:
    pulls = sorted(
        (i for (name, _), i in sim.world.issues.items() if name == repo and i.pull), key=lambda i: i.number
    )
    if not pulls:
        return [RULE, f"Pull requests in {repo}: none"]
    lines = [RULE, f"Pull requests in {repo}:"]
    for pull in pulls:
        assert pull.pull is not None
        snap = sim.pull_snapshot(pull)
        facts = f"{pull.pull.head_ref} → {pull.pull.base_ref}, {pull.state}, by @{pull.user.login}"
        lines.append(f"  #{pull.number}  {pull.title}  ({facts}, head {snap.head_sha[:7]})")
        for run in sorted(sim.check_runs_for(repo, snap.head_sha), key=lambda run: run.id):
            title = run.output.get("title") or ""
            state = f"{run.status}/{run.conclusion}" if run.conclusion else run.status
            lines.append(f"      check {run.name}: {state}" + (f" — {title}" if title else ""))
    return lines


def readable(markdown: str) -> str:
    """Markdown as the page shows it: no HTML comments, no markup-only tags, no escapes outside code;
    a `<details>` block shows its summary as `▸ summary` and then its content."""
    parts = FENCE.split(markdown)
    shown = [part if part.startswith("```") else _unmark(part) for part in parts]
    return re.sub(r"\n{3,}", "\n\n", "".join(shown)).strip("\n")


def _unmark(text: str) -> str:
    text = SUMMARY.sub(lambda match: f"▸ {match.group(1).strip()}", HTML_COMMENT.sub("", text))
    return MARKDOWN_ESCAPE.sub(r"\1", INVISIBLE_TAGS.sub("", text))


def _indent(text: str) -> str:
    return textwrap.indent(text.rstrip(), INDENT, lambda line: True)
