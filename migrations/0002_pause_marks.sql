-- Plays stored while the DJ had the track list paused are withheld from
-- dancers like hidden plays. pause_marks keeps each broadcast.paused /
-- broadcast.resumed by its seq, so a play is withheld when the latest mark
-- before it is a pause, whatever order the events are written in.

-- +goose Up
CREATE TABLE pause_marks (
    session_id text    NOT NULL,
    seq        bigint  NOT NULL,
    paused     boolean NOT NULL,
    PRIMARY KEY (session_id, seq)
);

-- +goose Down
DROP TABLE pause_marks;
