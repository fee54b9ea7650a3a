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
)
