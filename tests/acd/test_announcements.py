"""What a waiting caller hears (queue-admin.md §2.5): join announcement, ringback, periodic
queue announcement; "play full prompt before ringing"."""

from acd_helpers import make, of_type, queue, rung

from acd.commands import PlayPrompt, StartMusic


def test_join_announcement_then_ringback_and_periodic_announcement() -> None:
    acd = make(queue(static_agents=["1001"], prompts={
        "join_announcement": "welcome", "ringback_tone": "jazz",
        "queue_announcement": "press-1", "queue_announcement_frequency": 30}))
    acd.handle_device_busy("1001", 0.0)
    out = acd.handle_task_arrived("c1", "6400", 0.0)
    assert out.commands == [PlayPrompt("c1", "welcome", "en"), StartMusic("c1", "jazz")]
    assert of_type(acd.tick(30.0), PlayPrompt) == [PlayPrompt("c1", "press-1", "en")]
    assert of_type(acd.tick(60.0), PlayPrompt) == [PlayPrompt("c1", "press-1", "en")]
    acd.handle_task_left("c1", 61.0)
    assert acd.next_deadline() is None or not of_type(acd.tick(90.0), PlayPrompt)


def test_agents_ring_only_after_the_full_join_announcement() -> None:
    acd = make(queue(static_agents=["1001"], prompts={
        "join_announcement": "welcome", "play_full_prompt_before_ringing": True}))
    assert rung(acd.handle_task_arrived("c1", "6400", 0.0)) == []
    assert rung(acd.handle_join_prompt_finished("c1", 7.5)) == [("1001",)]
