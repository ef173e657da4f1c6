"""TaskRepository.waiting_for_review on SQLite and MariaDB: the board's "waits for review"
badge for a page of cards in one read, by the same rule as web.pages.waits_for_review on each
task's tasks_get."""
from __future__ import annotations

from domain.models import ID_MAX, ActorType, ExecutorType, ResultStatus, TaskStatus, TaskType
from web.pages import waits_for_review

AI = ActorType.AI


def make(repo, title: str) -> int:
    return repo.create_task(title=title, description=None, type=TaskType.AI_TASK, parent_task_id=None, due_date=None,
                            metadata=None, created_by="alice", created_by_type=AI)["id"]


def move(repo, task_id: int, *statuses: str) -> None:
    for status in statuses:
        repo.set_status(task_id, TaskStatus(status), actor="agent-1", actor_type=AI)


def result(repo, task_id: int, status: ResultStatus = ResultStatus.SUCCESS) -> None:
    repo.add_result(task_id, response="done", executor="claude", executor_type=ExecutorType.CLAUDE, model_name=None,
                    status=status, tokens_input=None, tokens_output=None, cost_usd=None, error_message=None,
                    request=None, duration_ms=None, actor_type=AI)


def test_the_tasks_in_progress_with_a_result_and_no_others_agree_with_each_tasks_get(repo):
    ids = {name: make(repo, name) for name in (
        "in progress with a result", "in progress with a failed result", "in progress with two results",
        "in progress without a result", "pending with a result", "sent back after a result", "completed with a result",
        "pending", "deleted",
    )}
    for name, task_id in ids.items():
        if name.startswith(("in progress", "sent back", "completed")):
            move(repo, task_id, "in_progress")
    result(repo, ids["in progress with a result"])
    result(repo, ids["in progress with a failed result"], ResultStatus.ERROR)
    result(repo, ids["in progress with two results"])
    result(repo, ids["in progress with two results"], ResultStatus.PARTIAL)
    result(repo, ids["pending with a result"])  # a pending task takes a result and stays pending
    result(repo, ids["sent back after a result"])
    move(repo, ids["sent back after a result"], "pending")
    result(repo, ids["completed with a result"])
    move(repo, ids["completed with a result"], "completed")
    move(repo, ids["deleted"], "in_progress")
    result(repo, ids["deleted"])
    repo.delete_task(ids["deleted"], actor="alice", actor_type=AI)

    asked = [*ids.values(), ids["in progress with a result"]]  # a repeat is answered once
    waiting = repo.waiting_for_review(asked)
    assert waiting == {ids["in progress with a result"], ids["in progress with a failed result"],
                       ids["in progress with two results"]}
    # The rule is the one the task's own page and the cards use.
    cards = repo.card_facts(list(ids.values()))
    for name, task_id in ids.items():
        if name != "deleted":
            assert (task_id in waiting) == waits_for_review(repo.board_task(task_id)) == cards[task_id]["review"], name


def test_no_ids_and_ids_no_task_can_have_are_an_empty_answer_not_an_error(repo):
    task_id = make(repo, "Draft")
    move(repo, task_id, "in_progress")
    result(repo, task_id)
    assert repo.waiting_for_review([]) == set()
    assert repo.waiting_for_review([0, -1, ID_MAX + 1, ID_MAX]) == set()
    assert repo.waiting_for_review([0, task_id, ID_MAX + 1]) == {task_id}

