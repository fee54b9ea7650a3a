"""The database schema as an ordered list of migration steps (DESIGN.md "Storage").

`schema_version` holds one row per applied step. A new table or column is a new step at the
end of `MIGRATIONS`, never an edit of an old one: a database created by any earlier version
of the switch is brought forward step by step at start-up. Later issues add the queue-call
rows, agent sessions, pauses and report tables as further steps.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "registrations and call detail records", """
        CREATE TABLE registrations (
            aor           TEXT    NOT NULL,  -- extension number (address-of-record user)
            contact       TEXT    NOT NULL,  -- Contact URI as the phone sent it
            expires_at    REAL    NOT NULL,  -- wall-clock epoch seconds
            received_host TEXT    NOT NULL,  -- source address the REGISTER came from (rport)
            received_port INTEGER NOT NULL,
            transport     TEXT    NOT NULL,  -- udp | tcp
            call_id       TEXT    NOT NULL,
            cseq          INTEGER NOT NULL,
            q             REAL,
            user_agent    TEXT    NOT NULL DEFAULT '',
            registered_at REAL    NOT NULL,
            PRIMARY KEY (aor, contact)
        );
        CREATE TABLE cdr (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            call_id       TEXT    NOT NULL,  -- Call-ID of the caller's leg
            caller        TEXT    NOT NULL,
            callee        TEXT    NOT NULL,
            start_time    REAL    NOT NULL,  -- wall-clock epoch seconds
            answer_time   REAL,
            end_time      REAL    NOT NULL,
            duration      REAL    NOT NULL,  -- end - start
            billsec       REAL    NOT NULL,  -- end - answer, 0 when unanswered
            disposition   TEXT    NOT NULL
                CHECK (disposition IN ('ANSWERED','NO ANSWER','BUSY','FAILED','CANCELLED')),
            hangup_side   TEXT    NOT NULL,  -- caller | callee | switch
            hangup_cause  TEXT    NOT NULL,  -- e.g. BYE, CANCEL, no-answer timeout, shutdown
            sip_code      INTEGER,           -- final SIP status of the call attempt
            caller_rtp    TEXT,              -- JSON RTP stats of the caller's leg
            callee_rtp    TEXT               -- JSON RTP stats of the callee's leg
        );
        CREATE INDEX cdr_start ON cdr (start_time);
        CREATE INDEX cdr_call_id ON cdr (call_id);
    """),
    # Report rows (queue-admin.md §8), written by softswitch.reports as the events happen.
    # Times are wall-clock epoch seconds, durations seconds. `call_uid` names one pass of a
    # task through a queue (a SIP Call-ID may come back later), it links the tables.
    Migration(2, "queue report rows: calls, offers, agent sessions, pauses, callbacks, "
                 "surveys", """
        CREATE TABLE queue_calls (
            call_uid      TEXT    PRIMARY KEY,
            task          TEXT    NOT NULL,  -- SIP Call-ID of the caller's leg
            queue         TEXT    NOT NULL,
            caller        TEXT    NOT NULL,
            joined_at     REAL    NOT NULL,  -- §8.2 Time: the call was received
            answered_at   REAL,
            left_at       REAL,              -- left the queue (answered, abandoned, missed)
            ended_at      REAL,              -- answered call ended (talk over)
            agent         TEXT,              -- who answered (NULL: "None")
            status        TEXT               -- NULL while waiting
                CHECK (status IN ('answered','abandoned','missed')),
            reason        TEXT,              -- acd LeaveReason value
            wait          REAL,              -- join -> leave (§8.2 ring duration)
            ring          REAL    NOT NULL DEFAULT 0,  -- seconds agents' phones rang
            offers        INTEGER NOT NULL DEFAULT 0,  -- ring attempts (agent offers)
            talk          REAL    NOT NULL DEFAULT 0,
            hold          REAL    NOT NULL DEFAULT 0,
            sla_met       INTEGER NOT NULL DEFAULT 0,  -- answered within the queue's SLA time
            callback      INTEGER NOT NULL DEFAULT 0   -- the caller requested a callback
        );
        CREATE INDEX queue_calls_joined ON queue_calls (queue, joined_at);
        CREATE INDEX queue_calls_task ON queue_calls (task);
        CREATE TABLE queue_offers (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            call_uid      TEXT    NOT NULL,
            task          TEXT    NOT NULL,
            queue         TEXT    NOT NULL,
            agent         TEXT    NOT NULL,
            caller        TEXT    NOT NULL,
            call_joined_at REAL   NOT NULL,
            rang_at       REAL    NOT NULL,
            ended_at      REAL,
            attempt       INTEGER NOT NULL,  -- nth time this call rang this agent
            outcome       TEXT               -- NULL while ringing
                CHECK (outcome IN ('answered','missed','rejected','cancelled')),
            ring_duration REAL
        );
        CREATE INDEX queue_offers_agent ON queue_offers (agent, rang_at);
        CREATE INDEX queue_offers_call ON queue_offers (call_uid);
        CREATE TABLE agent_sessions (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            session_uid   TEXT    NOT NULL UNIQUE,
            agent         TEXT    NOT NULL,
            queue         TEXT    NOT NULL,
            signed_in_at  REAL    NOT NULL,
            signed_out_at REAL,              -- NULL while signed in
            duration      REAL
        );
        CREATE INDEX agent_sessions_agent ON agent_sessions (agent, signed_in_at);
        CREATE TABLE agent_pauses (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            pause_uid     TEXT    NOT NULL UNIQUE,
            agent         TEXT    NOT NULL,
            queue         TEXT    NOT NULL,
            paused_at     REAL    NOT NULL,
            reason        TEXT    NOT NULL DEFAULT '',  -- '' = no reason ("-")
            auto          INTEGER NOT NULL DEFAULT 0,   -- §2.4 auto-pause
            counted       INTEGER NOT NULL DEFAULT 1,   -- 0: segment after a reason change
            ended_at      REAL,
            ended_by      TEXT               -- resumed | reason_changed
                CHECK (ended_by IN ('resumed','reason_changed')),
            duration      REAL
        );
        CREATE INDEX agent_pauses_agent ON agent_pauses (agent, paused_at);
        CREATE TABLE callbacks (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            call_uid      TEXT    NOT NULL,
            task          TEXT    NOT NULL,
            queue         TEXT    NOT NULL,
            caller        TEXT    NOT NULL,
            call_joined_at REAL   NOT NULL,  -- §8.7 Time: the caller called the queue
            requested_at  REAL,              -- NULL: the request itself failed (invalid number)
            number        TEXT    NOT NULL,
            callback_at   REAL,              -- §8.7 Callback Time (outcome time)
            agent         TEXT,
            outcome       TEXT               -- NULL while pending
                CHECK (outcome IN ('succeeded','failed')),
            failure_reason TEXT              -- acd CallbackFailureReason value
        );
        CREATE INDEX callbacks_queue ON callbacks (queue, call_joined_at);
        CREATE TABLE surveys (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            call_uid      TEXT,
            task          TEXT    NOT NULL,
            queue         TEXT    NOT NULL,
            agent         TEXT    NOT NULL,
            caller        TEXT    NOT NULL,
            call_joined_at REAL,             -- §8.9 Time: the caller called the queue
            answered_at   REAL    NOT NULL,  -- when the key was pressed
            key           TEXT    NOT NULL,
            score         INTEGER NOT NULL
        );
        CREATE INDEX surveys_queue ON surveys (queue, answered_at);
    """),
    # The call's recording (issue 3, softswitch.calls.recording): the WAV's path, NULL when
    # the call was not recorded (unanswered, recording disabled, or the file failed to open).
    Migration(3, "recording path on cdr and queue_calls rows", """
        ALTER TABLE cdr ADD COLUMN recording TEXT;
        ALTER TABLE queue_calls ADD COLUMN recording TEXT
    """),
    # A pause open when the switch stops ends as 'shutdown' (softswitch.reports.rows). SQLite
    # cannot alter a CHECK constraint, so the table is rebuilt with the same rows.
    Migration(4, "pause segments may end by shutdown", """
        CREATE TABLE agent_pauses_v4 (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            pause_uid     TEXT    NOT NULL UNIQUE,
            agent         TEXT    NOT NULL,
            queue         TEXT    NOT NULL,
            paused_at     REAL    NOT NULL,
            reason        TEXT    NOT NULL DEFAULT '',  -- '' = no reason ("-")
            auto          INTEGER NOT NULL DEFAULT 0,   -- §2.4 auto-pause
            counted       INTEGER NOT NULL DEFAULT 1,   -- 0: segment after a reason change
            ended_at      REAL,
            ended_by      TEXT               -- resumed | reason_changed | shutdown
                CHECK (ended_by IN ('resumed','reason_changed','shutdown')),
            duration      REAL
        );
        INSERT INTO agent_pauses_v4 SELECT id, pause_uid, agent, queue, paused_at, reason,
            auto, counted, ended_at, ended_by, duration FROM agent_pauses;
        DROP TABLE agent_pauses;
        ALTER TABLE agent_pauses_v4 RENAME TO agent_pauses;
        CREATE INDEX agent_pauses_agent ON agent_pauses (agent, paused_at)
    """),
    # State that must survive a restart (DESIGN.md "Storage"), written as it changes by
    # softswitch.store.agent_state and read back at start-up into the ACD. Times are
    # wall-clock epoch seconds.
    Migration(5, "agent state and pending callback requests survive restarts", """
        CREATE TABLE agent_state (
            agent         TEXT    NOT NULL,
            queue         TEXT    NOT NULL,
            signed_in     INTEGER NOT NULL DEFAULT 0,
            signed_in_at  REAL,              -- orders restored sign-ins (Linear, Round Robin)
            paused        INTEGER NOT NULL DEFAULT 0,
            pause_reason  TEXT    NOT NULL DEFAULT '',  -- '' = no reason
            paused_at     REAL,
            wrapup_until  REAL,              -- NULL: not in wrap-up for this queue
            updated_at    REAL    NOT NULL,
            PRIMARY KEY (agent, queue)
        );
        CREATE TABLE callback_requests (
            task          TEXT    NOT NULL,  -- SIP Call-ID of the caller's original call
            queue         TEXT    NOT NULL,
            caller        TEXT    NOT NULL,
            number        TEXT    NOT NULL,  -- the registered callback number
            joined_at     REAL    NOT NULL,  -- the caller's place: queue order by join time
            requested_at  REAL    NOT NULL,
            expires_at    REAL    NOT NULL,  -- terminated as "no idle agent" after this
            PRIMARY KEY (task, queue)
        );
        CREATE INDEX callback_requests_order ON callback_requests (queue, joined_at)
    """),
    # Crash-safe call records (softswitch.calls.records): a call's row is written when the
    # call starts (state 'open') and completed when it ends; a row a crash left open is closed
    # at the next start-up as INTERRUPTED with its end unknown (end_time, duration and billsec
    # NULL). `call_dialogs` holds, per open call, what an in-dialog BYE to each leg needs
    # (RFC 3261 §12.2.1.1), so the restarted switch can hang up the parties still connected.
    # The cdr table is rebuilt (SQLite cannot relax NOT NULL or alter a CHECK), rows kept.
    Migration(6, "open call records and the dialogs needed to end them after a crash", """
        CREATE TABLE cdr_v6 (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            record_uid    TEXT    UNIQUE,    -- names one call (NULL: written before v6)
            state         TEXT    NOT NULL DEFAULT 'closed'
                CHECK (state IN ('open','closed')),
            call_id       TEXT    NOT NULL,  -- Call-ID of the caller's leg
            caller        TEXT    NOT NULL,
            callee        TEXT    NOT NULL,
            start_time    REAL    NOT NULL,  -- wall-clock epoch seconds
            answer_time   REAL,
            end_time      REAL,              -- NULL while open, and when INTERRUPTED
            duration      REAL,              -- end - start (NULL when the end is unknown)
            billsec       REAL,              -- end - answer, 0 when unanswered
            disposition   TEXT               -- NULL while open
                CHECK (disposition IN ('ANSWERED','NO ANSWER','BUSY','FAILED','CANCELLED',
                                       'INTERRUPTED')),
            hangup_side   TEXT,              -- caller | callee | switch (NULL while open)
            hangup_cause  TEXT,              -- e.g. BYE, CANCEL, shutdown, switch restart
            sip_code      INTEGER,           -- final SIP status of the call attempt
            caller_rtp    TEXT,              -- JSON RTP stats of the caller's leg
            callee_rtp    TEXT,              -- JSON RTP stats of the callee's leg
            recording     TEXT,
            CHECK (state = 'open' OR (disposition IS NOT NULL AND hangup_side IS NOT NULL
                                      AND hangup_cause IS NOT NULL))
        );
        INSERT INTO cdr_v6 (id, call_id, caller, callee, start_time, answer_time, end_time,
            duration, billsec, disposition, hangup_side, hangup_cause, sip_code, caller_rtp,
            callee_rtp, recording)
            SELECT id, call_id, caller, callee, start_time, answer_time, end_time, duration,
            billsec, disposition, hangup_side, hangup_cause, sip_code, caller_rtp, callee_rtp,
            recording FROM cdr;
        DROP TABLE cdr;
        ALTER TABLE cdr_v6 RENAME TO cdr;
        CREATE INDEX cdr_start ON cdr (start_time);
        CREATE INDEX cdr_call_id ON cdr (call_id);
        CREATE INDEX cdr_open ON cdr (state) WHERE state = 'open';
        CREATE TABLE call_dialogs (
            record_uid    TEXT    NOT NULL,  -- the cdr row of the call
            leg           TEXT    NOT NULL,  -- caller | callee | agent
            call_id       TEXT    NOT NULL,  -- the leg's own Call-ID
            local_address TEXT    NOT NULL,  -- our From in requests we send (with our tag)
            remote_address TEXT   NOT NULL,  -- their To (with their tag)
            remote_target TEXT    NOT NULL,  -- Request-URI (their Contact)
            route_set     TEXT    NOT NULL,  -- JSON list of Route values, in order
            next_cseq     INTEGER NOT NULL,  -- our next CSeq number at the time of writing
            transport     TEXT    NOT NULL,  -- where the leg is reached: udp | tcp
            host          TEXT    NOT NULL,
            port          INTEGER NOT NULL,
            PRIMARY KEY (record_uid, leg)
        )
    """),
    Migration(7, "voicemail messages and call-flow night toggles", """
        CREATE TABLE voicemail_messages (
            message_id    TEXT    PRIMARY KEY,
            box           TEXT    NOT NULL,  -- extension or group voicemail number
            caller        TEXT    NOT NULL,
            caller_name   TEXT    NOT NULL DEFAULT '',
            path          TEXT    NOT NULL,  -- the WAV file
            seconds       REAL    NOT NULL,
            folder        TEXT    NOT NULL CHECK (folder IN ('new','old','saved')),
            created_at    REAL    NOT NULL,  -- wall-clock epoch seconds
            call_id       TEXT    NOT NULL DEFAULT ''
        );
        CREATE INDEX voicemail_messages_box ON voicemail_messages (box, created_at);
        CREATE TABLE call_flow_modes (
            call_flow     TEXT    PRIMARY KEY,  -- call flow number
            forced        TEXT    NOT NULL,     -- 'night' while the manual toggle is on
            changed_at    REAL    NOT NULL,
            changed_by    TEXT    NOT NULL
        )
    """),
    # E-mail not yet taken by the mail server (softswitch.notify.smtp): sent after a restart.
    Migration(8, "e-mail outbox", """
        CREATE TABLE mail_outbox (
            mail_uid      TEXT    PRIMARY KEY,
            recipient     TEXT    NOT NULL,
            subject       TEXT    NOT NULL,
            body          TEXT    NOT NULL,
            attachments   TEXT    NOT NULL DEFAULT '[]',  -- JSON list of file paths
            queued_at     REAL    NOT NULL               -- wall-clock epoch seconds
        )
    """),
    # Reports over a period (softswitch.reports): covering indexes, so a month of a busy
    # switch is read from the index alone, in time order. The (queue, joined_at) index goes:
    # the planner took it for a month of all queues and then read every row from the table.
    Migration(9, "report indexes by period", """
        DROP INDEX queue_calls_joined;
        CREATE INDEX queue_calls_period ON queue_calls
            (joined_at, queue, status, wait, talk, hold, sla_met, agent);
        CREATE INDEX queue_offers_period ON queue_offers
            (call_joined_at, queue, agent, outcome, ended_at, call_uid)
    """),
    Migration(10, "queue call dispositions and call notes (live API)", """
        CREATE TABLE queue_call_dispositions (
            call_uid      TEXT    PRIMARY KEY,  -- queue_calls.call_uid (missed or abandoned)
            queue         TEXT    NOT NULL,
            disposition   TEXT    NOT NULL
                CHECK (disposition IN ('unhandled','processing','handled')),
            changed_at    REAL    NOT NULL,     -- wall-clock epoch seconds
            changed_by    TEXT    NOT NULL
        );
        CREATE TABLE queue_call_disposition_log (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            call_uid      TEXT    NOT NULL,
            queue         TEXT    NOT NULL,
            from_state    TEXT    NOT NULL,
            to_state      TEXT    NOT NULL,
            changed_at    REAL    NOT NULL,
            changed_by    TEXT    NOT NULL,
            auto_synced   INTEGER NOT NULL DEFAULT 0  -- §6.5 "Auto-synced"
        );
        CREATE INDEX queue_call_disposition_log_call ON queue_call_disposition_log (call_uid);
        CREATE TABLE queue_call_notes (
            task          TEXT    NOT NULL,     -- the caller's Call-ID (queue_calls.task)
            queue         TEXT    NOT NULL,
            tags          TEXT    NOT NULL,     -- JSON list
            text          TEXT    NOT NULL,
            updated_at    REAL    NOT NULL,
            updated_by    TEXT    NOT NULL,
            PRIMARY KEY (task, queue)
        )
    """),
    Migration(11, "extension presence statuses (live API, §7.5 auto-switch)", """
        CREATE TABLE extension_presence (
            extension     TEXT    PRIMARY KEY,
            status        TEXT    NOT NULL,     -- available|away|business_trip|dnd|lunch|off_work
            changed_at    REAL    NOT NULL,     -- wall-clock epoch seconds
            changed_by    TEXT    NOT NULL      -- the extension that set it
        )
    """),
    Migration(12, "browser console: deleted call-log records, queue groups, last queues", """
        CREATE TABLE queue_call_log_deletions (
            call_uid      TEXT    NOT NULL,     -- queue_calls.call_uid (the row stays)
            viewer        TEXT    NOT NULL,     -- '' = gone for everyone, else that user only
            queue         TEXT    NOT NULL,
            deleted_at    REAL    NOT NULL,     -- wall-clock epoch seconds
            deleted_by    TEXT    NOT NULL,
            PRIMARY KEY (call_uid, viewer)
        );
        CREATE TABLE console_settings (
            extension     TEXT    NOT NULL,     -- the logged-in user
            name          TEXT    NOT NULL,     -- queue_groups
            value         TEXT    NOT NULL,     -- JSON
            updated_at    REAL    NOT NULL,
            PRIMARY KEY (extension, name)
        );
        CREATE TABLE agent_last_queues (
            agent         TEXT    PRIMARY KEY,  -- the *78 / "sign in to last queues" set
            queues        TEXT    NOT NULL,     -- JSON list of queue numbers
            updated_at    REAL    NOT NULL
        )
    """),
    # Omnichannel messaging (softswitch.messaging.store): sessions, their messages (outbound
    # ones with their delivery state: pending ones are retried after a restart) and the
    # operation timeline (omnichannel.md §6, §8.4). Times are wall-clock epoch seconds.
    Migration(13, "messaging sessions, messages and timeline", """
        CREATE TABLE messaging_sessions (
            id            INTEGER PRIMARY KEY,  -- the Session ID (increasing, §6.1)
            channel       TEXT    NOT NULL,     -- channel name
            number        TEXT    NOT NULL,     -- the channel number
            customer      TEXT    NOT NULL,
            origin        TEXT    NOT NULL CHECK (origin IN ('inbound','agent')),
            created       REAL    NOT NULL,
            last_activity REAL    NOT NULL,
            route         TEXT    NOT NULL CHECK (route IN ('extension','message_queue')),
            target        TEXT    NOT NULL,     -- extension number or message queue name
            owner         TEXT,                 -- the extension that holds it
            state         TEXT    NOT NULL CHECK (state IN ('open','closed')),
            archived_by   TEXT    NOT NULL DEFAULT '[]',  -- JSON list of extensions
            removed_by    TEXT    NOT NULL DEFAULT '[]'
        );
        CREATE INDEX messaging_sessions_state ON messaging_sessions (state, last_activity);
        CREATE TABLE messaging_messages (
            id            INTEGER PRIMARY KEY,
            session       INTEGER NOT NULL,
            channel       TEXT    NOT NULL,
            sent_at       REAL    NOT NULL,
            direction     TEXT    NOT NULL CHECK (direction IN ('received','sent','system')),
            sender        TEXT    NOT NULL,
            body          TEXT    NOT NULL,
            media         TEXT    NOT NULL DEFAULT '[]',  -- JSON list of URLs
            provider_id   TEXT,                 -- the provider's message id
            status        TEXT    NOT NULL DEFAULT '',    -- ''|pending|sent|failed
            error         TEXT    NOT NULL DEFAULT '',    -- the agent-facing prompt
            attempts      INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX messaging_messages_session ON messaging_messages (session, id);
        CREATE UNIQUE INDEX messaging_messages_received ON messaging_messages
            (channel, provider_id) WHERE direction = 'received';
        CREATE INDEX messaging_messages_pending ON messaging_messages (status)
            WHERE status = 'pending';
        CREATE TABLE messaging_events (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            session       INTEGER NOT NULL,
            at            REAL    NOT NULL,
            kind          TEXT    NOT NULL CHECK (kind IN ('create','takeover','transfer',
                                                           'close')),
            actor         TEXT    NOT NULL,
            description   TEXT    NOT NULL
        );
        CREATE INDEX messaging_events_session ON messaging_events (session)
    """),
    # Broadcast campaigns (softswitch.messaging.campaigns, omnichannel.md §7): a campaign and
    # one row per contact with its result; a contact is marked 'sending' (committed) before
    # its request goes out, so a restart resends nobody and skips nobody.
    Migration(14, "messaging campaigns and their contacts", """
        CREATE TABLE messaging_campaigns (
            id            INTEGER PRIMARY KEY,
            name          TEXT    NOT NULL,
            channel       TEXT    NOT NULL,
            sender        TEXT    NOT NULL,     -- a number of the channel
            recipients    TEXT    NOT NULL,     -- the label shown in the list
            body          TEXT    NOT NULL,
            media         TEXT    NOT NULL DEFAULT '[]',  -- JSON list of URLs
            send_time     TEXT    NOT NULL CHECK (send_time IN ('now','schedule','draft')),
            send_at       REAL,                 -- wall epoch seconds (schedule)
            time_zone     TEXT    NOT NULL,     -- the admin's zone send_at was given in
            mode          TEXT    NOT NULL CHECK (mode IN ('session','direct')),
            assign_type   TEXT    NOT NULL DEFAULT '',    -- extension|message_queue
            assign_target TEXT    NOT NULL DEFAULT '',
            status        TEXT    NOT NULL,
            retry         INTEGER NOT NULL DEFAULT 0,     -- the next run resends the failed
            created       REAL    NOT NULL,
            started       REAL,                 -- the last run's start (the list's send time)
            finished      REAL,
            queued_at     REAL,                 -- order of the pending ones
            stop_reason   TEXT    NOT NULL DEFAULT ''
        );
        CREATE TABLE messaging_campaign_contacts (
            campaign      INTEGER NOT NULL,
            idx           INTEGER NOT NULL,
            number        TEXT    NOT NULL,
            name          TEXT    NOT NULL DEFAULT '',
            result        TEXT    NOT NULL CHECK (result IN ('waiting','sending','success',
                                                             'failed')),
            reason        TEXT    NOT NULL DEFAULT '',
            provider_id   TEXT,
            attempts      INTEGER NOT NULL DEFAULT 0,
            sent_at       REAL,
            PRIMARY KEY (campaign, idx)
        )
    """),
    # Sessions a campaign created in its "create session" mode are of their own origin,
    # 'campaign' (the agents' Campaign filter, omnichannel.md §13 item 48). SQLite cannot
    # alter a CHECK constraint, so the table is rebuilt with the same rows; the campaign
    # sessions made before (origin 'agent', created by "群发活动<name>") become 'campaign'.
    Migration(15, "messaging sessions created by campaigns", """
        CREATE TABLE messaging_sessions_v15 (
            id            INTEGER PRIMARY KEY,
            channel       TEXT    NOT NULL,
            number        TEXT    NOT NULL,
            customer      TEXT    NOT NULL,
            origin        TEXT    NOT NULL CHECK (origin IN ('inbound','agent','campaign')),
            created       REAL    NOT NULL,
            last_activity REAL    NOT NULL,
            route         TEXT    NOT NULL CHECK (route IN ('extension','message_queue')),
            target        TEXT    NOT NULL,
            owner         TEXT,
            state         TEXT    NOT NULL CHECK (state IN ('open','closed')),
            archived_by   TEXT    NOT NULL DEFAULT '[]',
            removed_by    TEXT    NOT NULL DEFAULT '[]'
        );
        INSERT INTO messaging_sessions_v15 SELECT s.id, s.channel, s.number, s.customer,
            CASE WHEN s.origin = 'agent' AND EXISTS (SELECT 1 FROM messaging_events e
                WHERE e.session = s.id AND e.kind = 'create' AND e.actor LIKE '群发活动<%')
                THEN 'campaign' ELSE s.origin END,
            s.created, s.last_activity, s.route, s.target, s.owner, s.state, s.archived_by,
            s.removed_by FROM messaging_sessions s;
        DROP TABLE messaging_sessions;
        ALTER TABLE messaging_sessions_v15 RENAME TO messaging_sessions;
        CREATE INDEX messaging_sessions_state ON messaging_sessions (state, last_activity)
    """),
    # The third-party platform destination (omnichannel.md §4, softswitch.messaging.sessions):
    # a session's route may be 'api'. SQLite cannot change a CHECK, so the table is rebuilt
    # again with the same rows (the same statements on PostgreSQL).
    Migration(16, "messaging sessions may be routed to the third-party platform (api)", """
        CREATE TABLE messaging_sessions_v16 (
            id            INTEGER PRIMARY KEY,
            channel       TEXT    NOT NULL,
            number        TEXT    NOT NULL,
            customer      TEXT    NOT NULL,
            origin        TEXT    NOT NULL CHECK (origin IN ('inbound','agent','campaign')),
            created       REAL    NOT NULL,
            last_activity REAL    NOT NULL,
            route         TEXT    NOT NULL CHECK (route IN ('extension','message_queue',
                                                            'api')),
            target        TEXT    NOT NULL,     -- extension, message queue name, or 'api'
            owner         TEXT,
            state         TEXT    NOT NULL CHECK (state IN ('open','closed')),
            archived_by   TEXT    NOT NULL DEFAULT '[]',
            removed_by    TEXT    NOT NULL DEFAULT '[]'
        );
        INSERT INTO messaging_sessions_v16 (id, channel, number, customer, origin, created,
            last_activity, route, target, owner, state, archived_by, removed_by)
            SELECT id, channel, number, customer, origin, created, last_activity, route,
                   target, owner, state, archived_by, removed_by FROM messaging_sessions;
        DROP TABLE messaging_sessions;
        ALTER TABLE messaging_sessions_v16 RENAME TO messaging_sessions;
        CREATE INDEX messaging_sessions_state ON messaging_sessions (state, last_activity)
    """),
    # The start-up reads the customers' last messages of the longest provider window
    # (softswitch.messaging.store `load`: sent_at >= now - 7 days); without an index on
    # sent_at that read scanned every message ever stored.
    Migration(17, "messaging messages by time (start-up window read)", """
        CREATE INDEX messaging_messages_sent_at ON messaging_messages (sent_at)
    """),
    # Company contacts added through the live API (softswitch.web.contacts: an agent's "Add
    # customer as contact" from a chat session, omnichannel.md §6.2); the configuration's
    # ``contacts.entries`` stay in the file. ``numbers``: JSON [[type, E.164 number], ...].
    Migration(18, "company contacts added through the live API", """
        CREATE TABLE company_contacts (
            id          INTEGER PRIMARY KEY,
            name        TEXT    NOT NULL,
            company     TEXT    NOT NULL DEFAULT '',
            email       TEXT    NOT NULL DEFAULT '',
            numbers     TEXT    NOT NULL DEFAULT '[]',
            created_by  TEXT    NOT NULL,
            created_at  REAL    NOT NULL,
            updated_at  REAL    NOT NULL
        )
    """),
)
