-- The first schema of Pika!'s history: DJs, their tokens, sessions, plays and
-- everything the crowd did. Rows are written only by persister/pgstore
-- (WriteBatch), keyed by the ids set at each event's or action's origin, so
-- writing anything twice changes nothing.
--
-- No foreign keys from the crowd's rows (likes, votes, reactions) to plays,
-- polls or sessions: the persister may see a like before its play, and the like
-- must still land. Sessions do not reference djs for the same reason; every
-- event upserts its DJ, so a session's DJ always has a row once written.

-- +goose Up
CREATE TABLE djs (
    id         text PRIMARY KEY,                  -- the DJ id of bus.Identity (issue 2); accounts (issue 7) point here
    name       text NOT NULL DEFAULT '',          -- '' until a session.started names them
    name_at    timestamptz NULL,                  -- origin time of the session.started that set name: the newest wins
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dj_tokens (
    id           bigserial PRIMARY KEY,
    dj_id        text NOT NULL REFERENCES djs (id) ON DELETE CASCADE,
    token_hash   text NOT NULL UNIQUE,            -- a hash of the token: the token itself is never stored
    name         text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NULL,
    revoked_at   timestamptz NULL,
    last_used_at timestamptz NULL
);
CREATE INDEX dj_tokens_dj_id_idx ON dj_tokens (dj_id);

CREATE TABLE sessions (
    id         text PRIMARY KEY,                  -- the session's ULID
    dj_id      text NOT NULL,
    dj_name    text NOT NULL DEFAULT '',          -- '' until its session.started is written
    started_at timestamptz NOT NULL,              -- earliest origin time of its events (session.started's, once written)
    ended_at   timestamptz NULL,
    end_reason text NULL,                         -- bus.EndByDJ or bus.EndByIdle
    last_seq   bigint NOT NULL DEFAULT 0          -- highest event seq written
);
CREATE INDEX sessions_dj_started_idx ON sessions (dj_id, started_at DESC);
CREATE INDEX sessions_ended_idx ON sessions (ended_at DESC);
CREATE INDEX sessions_started_idx ON sessions (started_at DESC);

CREATE TABLE plays (
    id               text PRIMARY KEY,            -- the play id = its track.played event id
    session_id       text NOT NULL,
    seq              bigint NOT NULL,
    played_at        timestamptz NOT NULL,        -- the origin's time, not the time it was written
    track_id         text NOT NULL,
    title            text NOT NULL,
    artist           text NOT NULL,
    album            text NULL,                   -- NULL when the source did not know it (so are bpm, key, duration_sec, source)
    bpm              real NULL,
    key              text NULL,
    duration_sec     real NULL,
    source           text NULL,
    hidden           boolean NOT NULL DEFAULT false,
    corrected_title  text NULL,
    corrected_artist text NULL
);
CREATE INDEX plays_session_played_idx ON plays (session_id, played_at DESC);
CREATE INDEX plays_track_idx ON plays (track_id);

-- play_edits keeps play.hidden and play.corrected by play id, so an edit
-- written before its play is applied when the play arrives. Internal to the
-- persister: read plays.hidden and plays.corrected_*.
CREATE TABLE play_edits (
    play_id          text PRIMARY KEY,
    session_id       text NOT NULL,
    hidden           boolean NOT NULL DEFAULT false,
    corrected_title  text NULL,
    corrected_artist text NULL,
    corrected_seq    bigint NOT NULL DEFAULT 0    -- seq of the correction kept: the latest wins
);

-- likes holds each dancer's latest like or unlike of a play: the action with
-- the greatest (at, action_id) wins, whatever order they are written in.
CREATE TABLE likes (
    play_id    text NOT NULL,
    client_id  text NOT NULL,
    session_id text NOT NULL,
    liked      boolean NOT NULL,                  -- false: the latest action was an unlike
    action_id  text NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (play_id, client_id)
);
CREATE INDEX likes_client_at_idx ON likes (client_id, at DESC);
CREATE INDEX likes_session_idx ON likes (session_id);

-- tempo_votes: the latest vote per dancer per play, same rule as likes.
CREATE TABLE tempo_votes (
    play_id    text NOT NULL,
    client_id  text NOT NULL,
    session_id text NOT NULL,
    choice     text NULL,                         -- slower, perfect, faster; NULL = the dancer cleared it
    action_id  text NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (play_id, client_id)
);
CREATE INDEX tempo_votes_session_idx ON tempo_votes (session_id);
CREATE INDEX tempo_votes_client_idx ON tempo_votes (client_id);

CREATE TABLE polls (
    id           text PRIMARY KEY,
    session_id   text NOT NULL,
    question     text NOT NULL,                   -- '' only while its poll.closed is written before its poll.started
    options      jsonb NOT NULL,                  -- JSON array of strings
    started_at   timestamptz NOT NULL,
    ends_at      timestamptz NULL,                -- NULL: open until the DJ ends it
    closed_at    timestamptz NULL,
    close_reason text NULL,                       -- bus.PollEnded, PollCancelled, PollTimedOut
    counts       jsonb NULL,                      -- JSON array of ints, per option
    total        int NULL,
    winner       int NULL                         -- option index; -1 none or cancelled
);
CREATE INDEX polls_session_idx ON polls (session_id);

-- poll_votes: one vote per dancer per poll; the first (smallest at, then
-- action_id) wins, whatever order they are written in.
CREATE TABLE poll_votes (
    poll_id    text NOT NULL,
    client_id  text NOT NULL,
    session_id text NOT NULL,
    option     int NOT NULL,
    action_id  text NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (poll_id, client_id)
);
CREATE INDEX poll_votes_client_idx ON poll_votes (client_id);
CREATE INDEX poll_votes_session_idx ON poll_votes (session_id);

CREATE TABLE announcements (
    id           text PRIMARY KEY,
    session_id   text NOT NULL,
    text         text NOT NULL,                   -- '' only while its cancel is written before it
    made_at      timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    cancelled_at timestamptz NULL
);
CREATE INDEX announcements_session_idx ON announcements (session_id);

CREATE TABLE reactions (
    id         text PRIMARY KEY,                  -- the action id
    session_id text NOT NULL,
    client_id  text NOT NULL,
    kind       text NOT NULL,                     -- 'thanks'
    at         timestamptz NOT NULL
);
CREATE INDEX reactions_session_idx ON reactions (session_id);
CREATE INDEX reactions_client_idx ON reactions (client_id);

-- +goose Down
DROP TABLE reactions;
DROP TABLE announcements;
DROP TABLE poll_votes;
DROP TABLE polls;
DROP TABLE tempo_votes;
DROP TABLE likes;
DROP TABLE play_edits;
DROP TABLE plays;
DROP TABLE sessions;
DROP TABLE dj_tokens;
DROP TABLE djs;
