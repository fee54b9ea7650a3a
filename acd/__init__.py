"""The ACD engine: which agent is offered which waiting call or chat, and when.

Sans-IO (DESIGN.md principle 1): `Acd` reads no clock and does no I/O. The shell (the SIP
call layer, the chat channels, or `softswitch simulate`) feeds it inputs stamped with a
monotonic ``now`` (seconds, e.g. ``loop.time()``) and executes the commands it returns.
Specification: shared/spec/queue-admin.md §2-§9, §11, §13-§15; message queues
omnichannel.md §5.3.

Identifiers (acd.ids)
    agent  = extension number string (``"1001"``);
    queue  = call-queue number string (``"6400"``), or a message queue's name;
    task   = opaque string chosen by the shell (SIP Call-ID, chat session id); unique while
             the engine holds the task.

Configuration
    ``acd.config.parse_acd_config(sections, extensions=[...]) -> AcdConfig`` from the YAML's
    ``queues``, ``pause_reasons``, ``business_hours``, ``holidays``, ``message_queues``;
    raises ``AcdConfigError(path, message)``. Then ``Acd(config, now=loop.time(),
    agents_registered=False)``; ``acd.initial_events`` holds the agents' start states.

Inputs (each returns an `Output` with ``.commands`` and ``.events``; also unpackable)
    tasks:  handle_task_arrived(task, queue, now, caller=, wall_clock=)
            handle_join_prompt_finished(task, now)      ("play full prompt before ringing")
            handle_key_pressed(task, key, now)          (callback key / key-press events;
                                                         in the callback dialogue: input)
            handle_callback_number(task, number, now)   ("" = the caller's own number)
            handle_callback_declined(task, now)
            handle_task_left(task, now)                 (caller hung up / chat closed)
            handle_task_removed(task, now)              (a manager moved it elsewhere)
    offers: handle_offer_answered(task, agent, now)
            handle_offer_rejected(task, agent, now)     (declined, 486, 480, ...)
            handle_offer_timed_out(task, agent, now)    (only if the shell times rings itself)
            handle_call_ended(task, now)                (after answer; wrap-up starts)
            handle_callback_connected(task, now) / handle_callback_failed(task, reason, now)
    agents: handle_agent_signed_in/out(agent, queue, now)      (dynamic agents, *7<queue>)
            handle_agent_paused(agent, queue, now, reason="")  (*07<queue>[*<code>])
            handle_agent_resumed(agent, queue, now)
            handle_device_registered/unregistered(agent, now)
            handle_device_busy/idle(agent, now)                 (non-queue calls: ring in use)
            handle_wrapup_over(agent, now)                      (end wrap-up early)
    chats:  handle_message_reply(task, agent, now), handle_take_over(task, agent, now)
    config: handle_reconfigure(config, now)   (`softswitch reload`: keeps tasks, agent state
            and statistics; removed queues' callers go to failover; see its docstring)
    restart: restore_agent(agent, queue, now, signed_in=, paused=, reason=, wrapup_until=)
            restore_callback(task, queue, now, caller=, number=, joined=, expires=)
            restore_message_session(task, queue, now, caller=, joined=)
            (the state the shell persisted; no "new sign-in / pause / request" events)
    time:   tick(now) runs every deadline <= now; next_deadline() -> float | None says when
            to call it next. Every handle_* also runs the deadlines due by its ``now``.

Commands (acd.commands; every one names its ``task``)
    RingAgents(queue, agents, timeout, alert_info, display, callback)  ring these phones
    StopRinging(agents)         the offer ended (answered elsewhere, timeout, caller left)
    Connect(queue, agent, agent_announcement, announce_agent_id, hold_music)
    PlayPrompt(prompt, language) / StartMusic(prompt) / AnnouncePosition(position,
        estimated_wait, thank_you, language)
    RouteTask(destination)      failover, time-based, key press: the task leaves the engine
    CollectCallbackNumber(default_number) -> handle_callback_number / _declined (again
        when the caller stayed silent; EndCallbackDialogue when silent twice)
    HangUp()                    after a callback was registered
    DialCustomer(queue, agent, number, outbound_prefix)  the agent answered a callback offer
    ShowSession / HideSession(queue, agents)             message queues

Events (acd.events, frozen dataclasses with ``at``): TaskJoined, TaskRouted, TaskLeft (exactly
one per task that joined: status answered / abandoned / missed and the reason), OfferStarted,
OfferEnded, AgentMissedCall, CallEnded, AgentSignedIn/Out, AgentPaused (``auto`` = auto-pause:
e-mail the agent), AgentResumed, WrapupStarted/Ended, MemberStateChanged, MemberRemoved
(a reload took the agent out of the queue), CallbackRequested,
CallbackSucceeded, CallbackFailed, SlaEvaluated (``below_threshold``: e-mail the managers),
SessionTakenOver, InputRejected (an input that did not fit the state; nothing changed).
Inputs naming an unknown queue or agent raise `AcdInputError`.

Queries: agent_queues, queue_members, is_member, member_state, is_signed_in, is_static,
pause_state (BLF), position,
estimated_wait (acd.ewt), statistics(queue, now) (acd.stats, wallboard), pause_reason(code).

A shell in a nutshell (what issue 5's asyncio adapter does)::

    acd = Acd(config, now=loop.time(), agents_registered=False)
    def run(out: Output) -> None:
        for command in out.commands:     # RingAgents -> INVITE the agents' contacts, ...
            execute(command)
        for event in out.events:         # -> database rows, websocket feed, e-mails
            publish(event)
        deadline = acd.next_deadline()   # one timer for the whole engine
        if deadline is not None:
            timer.reset(deadline, lambda: run(acd.tick(loop.time())))
    run(acd.handle_task_arrived(call_id, "6400", loop.time(), caller="+15550100",
                                wall_clock=datetime.now(UTC)))

Rules decided where the manual is silent or ambiguous (queue-admin.md §14):

* Retries: a task does not ring an agent again in the same round until every idle agent it
  may reach was tried (Linear walks down its list per caller; skill levels move to the next
  level when the level's idle agents all missed); then a new round starts from the top.
* Ring in use lets a queue offer calls to agents on a call or already ringing for another
  task (so an agent can hold two offers only then); it never rings one agent twice for the
  same task.
* Wrap-up: per queue by default; ``share_wrapup_time`` on a queue makes that queue's
  wrap-up block the agent in all its queues (§6.3).
* Least Recent uses the agent's last queue call in any queue; Fewest Calls counts answered
  calls of this queue since the engine started.
* §14.1/§9.2: a queue is "empty" when every member is signed out or in one of the selected
  scenarios (Asterisk's joinempty/leavewhenempty); join-empty rejects go to failover (§14.14)
  and count as entered and Missed, like capacity overflows.
* §14.4: in auto mode the engine asks for the callback number when the timeout (from queue
  entry) passes; the caller confirms or declines. A number under 5 digits fails the request
  as "invalid callback number" and the caller keeps waiting on the line.
* The callback dialogue never strands a caller (§4.2: the caller *can* request a callback,
  and keeps waiting otherwise): with no key for ``CALLBACK_INPUT_TIMEOUT`` (15 s) after the
  prompt began or after the last key, the prompt is played again, once; after a second
  silence the caller is back in line with their place (EndCallbackDialogue) and is rung and
  failed over like any waiting caller. Max wait that passes during the dialogue sends the
  caller to failover when the dialogue ends without a request.
* §14.5 callback timeout: the request is kept until ``callback_timeout`` (default max wait)
  after the caller *joined the queue*. Evidence: the §8.7 fixture's "no idle agent" rows
  end exactly 00:00:30 (four rows), 00:03:00 and 00:05:00 after the call's time, which only
  a clock started at joining gives (requests are registered seconds into the call; its
  00:00:34 and 00:00:41 rows fit neither clock with one value, so settings changed that
  day); and a custom value must be *less than* max wait, i.e. it bounds the whole wait. A
  request registered when that moment already passed (auto mode whose timeout equals the
  callback timeout, as the manual's screenshot 60/60) is kept ``callback_timeout`` from the
  request. With that screenshot's auto timeout = max wait, the callback is offered first and
  max wait waits for the dialogue's end.
* §14.6 priority: the head (longest-waiting ready) call of each queue is compared; equal
  weights go by arrival order across queues. §14.7 SLA: a wait equal to the SLA time meets it.
* §14.13: answering an offer (a queue call or a callback) resets the missed-call counter;
  pausing, signing out and a restart (a new engine) reset it too.
* Restart (restore_agent / restore_callback): a restored sign-in or pause is not a new one
  (no AgentSignedIn / AgentPaused): the shell's reports continue the rows they had open;
  restored callback requests keep their order ahead of new callers and their expiry.
"""

from acd.config import AcdConfig, AcdConfigError, parse_acd_config
from acd.engine import Acd, AcdInputError, Output

__all__ = ["Acd", "AcdConfig", "AcdConfigError", "AcdInputError", "Output",
           "parse_acd_config"]
