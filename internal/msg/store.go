package msg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/peerpath/peerpath/internal/store"
)

// migrations are msg's tables. Plaintext lives only in msg_messages and
// only for this node's own conversations; what the node holds for others
// (msg_mailbox, msg_bundles) is ciphertext and public keys.
var migrations = []store.Migration{{Version: 1, SQL: `
CREATE TABLE msg_keys (
	id      INTEGER PRIMARY KEY, -- 0: the X25519 identity key; n>0: prekey n
	priv    BLOB NOT NULL,
	created INTEGER NOT NULL
);
CREATE TABLE msg_sessions (
	sid     BLOB PRIMARY KEY,
	peer    TEXT NOT NULL,
	state   BLOB NOT NULL,
	secret  BLOB NOT NULL,
	init    BLOB,          -- our X3DH init, sent until the peer answers in this session
	intro   BLOB,          -- the peer's prekey the init used (its intro tags)
	created INTEGER NOT NULL,
	used    INTEGER NOT NULL
);
CREATE INDEX msg_sessions_peer ON msg_sessions(peer, used);
CREATE TABLE msg_messages (
	peer    TEXT NOT NULL,    -- the other party, or group:ID
	id      TEXT NOT NULL,
	out     INTEGER NOT NULL, -- 1: sent by us
	sender  TEXT NOT NULL,
	text    TEXT NOT NULL,
	time    INTEGER NOT NULL, -- unix ms
	state   TEXT NOT NULL,
	folder  TEXT NOT NULL,
	PRIMARY KEY (peer, id, out, sender)
);
CREATE INDEX msg_messages_time ON msg_messages(time);
CREATE TABLE msg_outbox (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	peer     TEXT NOT NULL,
	sid      BLOB NOT NULL,
	msgid    TEXT NOT NULL,   -- the text message it carries, or ''
	envelope BLOB NOT NULL,
	created  INTEGER NOT NULL
);
CREATE TABLE msg_mailbox (
	tag     BLOB NOT NULL,
	id      BLOB NOT NULL,
	sender  TEXT NOT NULL,
	blob    BLOB NOT NULL,
	expires INTEGER NOT NULL,
	PRIMARY KEY (tag, id)
);
CREATE INDEX msg_mailbox_sender ON msg_mailbox(sender);
CREATE INDEX msg_mailbox_expires ON msg_mailbox(expires);
CREATE TABLE msg_bundles (
	peer    TEXT PRIMARY KEY,
	bundle  BLOB NOT NULL,
	updated INTEGER NOT NULL
);
CREATE TABLE msg_groups (
	gid     TEXT PRIMARY KEY,
	name    TEXT NOT NULL UNIQUE,
	admin   TEXT NOT NULL,
	epoch   INTEGER NOT NULL,
	members TEXT NOT NULL,   -- JSON list of peer ids
	mykey   BLOB NOT NULL,   -- our sender chain key for this epoch
	myiter  INTEGER NOT NULL
);
CREATE TABLE msg_group_keys (
	gid     TEXT NOT NULL,
	epoch   INTEGER NOT NULL,
	sender  TEXT NOT NULL,
	chain   BLOB NOT NULL,
	iter    INTEGER NOT NULL,
	PRIMARY KEY (gid, epoch, sender)
);
`}, {Version: 2, SQL: `
-- Envelopes this node has opened (a hash of each), so that one arriving
-- again (a sender's retry after a crash or a lost answer, a second
-- mailbox's copy) is recognised and acknowledged instead of failing on
-- its spent key.
CREATE TABLE msg_seen (
	hash    BLOB PRIMARY KEY,
	sender  TEXT NOT NULL,
	msgid   TEXT NOT NULL,    -- the text message it carried, or ''
	time    INTEGER NOT NULL  -- unix seconds
);
CREATE INDEX msg_seen_time ON msg_seen(time);
-- Receipts owed: written with the message they acknowledge, deleted with
-- the sealing of the receipt that carries them (durable across a crash).
CREATE TABLE msg_rcpt_due (
	peer    TEXT NOT NULL,
	id      TEXT NOT NULL,
	kind    TEXT NOT NULL,    -- rcpt or read
	PRIMARY KEY (peer, id, kind)
);
`}, {Version: 3, SQL: `
-- What the mailbox holds, counted per sender, per tag and in all, kept by
-- triggers in the same transaction as each insert and delete: a put checks
-- its bounds with three primary-key lookups instead of counting (and, in
-- all, scanning) msg_mailbox.
CREATE TABLE msg_mailbox_senders (
	sender  TEXT PRIMARY KEY,
	n       INTEGER NOT NULL,
	bytes   INTEGER NOT NULL
);
CREATE TABLE msg_mailbox_tags (
	tag     BLOB PRIMARY KEY,
	n       INTEGER NOT NULL
);
CREATE TABLE msg_mailbox_total (
	one     INTEGER PRIMARY KEY CHECK (one = 1),
	n       INTEGER NOT NULL,
	bytes   INTEGER NOT NULL
);
INSERT INTO msg_mailbox_senders(sender, n, bytes) SELECT sender, COUNT(*), SUM(LENGTH(blob)) FROM msg_mailbox GROUP BY sender;
INSERT INTO msg_mailbox_tags(tag, n) SELECT tag, COUNT(*) FROM msg_mailbox GROUP BY tag;
INSERT INTO msg_mailbox_total(one, n, bytes) SELECT 1, COUNT(*), COALESCE(SUM(LENGTH(blob)), 0) FROM msg_mailbox;
CREATE TRIGGER msg_mailbox_counted AFTER INSERT ON msg_mailbox BEGIN
	INSERT INTO msg_mailbox_senders(sender, n, bytes) VALUES (NEW.sender, 1, LENGTH(NEW.blob))
		ON CONFLICT(sender) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
	INSERT INTO msg_mailbox_tags(tag, n) VALUES (NEW.tag, 1)
		ON CONFLICT(tag) DO UPDATE SET n = n + 1;
	UPDATE msg_mailbox_total SET n = n + 1, bytes = bytes + LENGTH(NEW.blob) WHERE one = 1;
END;
CREATE TRIGGER msg_mailbox_uncounted AFTER DELETE ON msg_mailbox BEGIN
	UPDATE msg_mailbox_senders SET n = n - 1, bytes = bytes - LENGTH(OLD.blob) WHERE sender = OLD.sender;
	DELETE FROM msg_mailbox_senders WHERE sender = OLD.sender AND n <= 0;
	UPDATE msg_mailbox_tags SET n = n - 1 WHERE tag = OLD.tag;
	DELETE FROM msg_mailbox_tags WHERE tag = OLD.tag AND n <= 0;
	UPDATE msg_mailbox_total SET n = n - 1, bytes = bytes - LENGTH(OLD.blob) WHERE one = 1;
END;
-- msg_mailbox rows are never updated (a put is INSERT OR IGNORE); one
-- that were would be counted wrong, so refuse it.
CREATE TRIGGER msg_mailbox_immutable BEFORE UPDATE ON msg_mailbox BEGIN
	SELECT RAISE(ABORT, 'msg_mailbox rows are immutable');
END;
`}}

// inTx runs fn in one transaction and commits it.
func inTx(ctx context.Context, db *store.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("msg: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("msg: commit: %w", err)
	}
	return nil
}

func noRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
