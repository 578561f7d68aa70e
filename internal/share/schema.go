package share

import "github.com/peerpath/peerpath/internal/store"

// component is the name this service's migrations are recorded under.
const component = "share"

// migrations create the catalog. Every table is prefixed share_ so the
// service owns its names in the node's shared database.
//
//   - share_roots: one row per shared path (file or folder).
//   - share_files: every file and folder inside a share (rel_path "" is the
//     root itself), with the size and modification time seen when it was
//     hashed, so re-indexing rehashes only what changed, and its identity
//     (file_dev, file_ino), so a name re-pointed at another file is never
//     served.
//   - share_chunks: where each chunk lives (file and index; the offset and
//     length follow from the file's size and chunk size), looked up by the
//     first 8 bytes of the chunk's BLAKE3 digest as an integer key. The
//     short key keeps the index small and inserts fast; a rare key collision
//     costs only an extra candidate, since every chunk read is verified
//     against the full id before it is served. The same chunk may appear in
//     several files.
//   - share_manifests: the encoded manifest of every file and folder id in
//     the catalog, served as is.
var migrations = []store.Migration{
	{Version: 1, SQL: `
CREATE TABLE share_roots (
	id         INTEGER PRIMARY KEY,
	path       TEXT NOT NULL UNIQUE,
	name       TEXT NOT NULL,
	root_cid   TEXT NOT NULL,
	is_dir     INTEGER NOT NULL,
	size       INTEGER NOT NULL,
	files      INTEGER NOT NULL,
	downloaded INTEGER NOT NULL DEFAULT 0,
	added_ns   INTEGER NOT NULL,
	indexed_ns INTEGER NOT NULL
);
CREATE TABLE share_files (
	id       INTEGER PRIMARY KEY,
	share_id INTEGER NOT NULL REFERENCES share_roots(id) ON DELETE CASCADE,
	rel_path TEXT NOT NULL,
	name     TEXT NOT NULL,
	is_dir   INTEGER NOT NULL,
	size     INTEGER NOT NULL,
	mtime_ns INTEGER NOT NULL,
	chunk_size INTEGER NOT NULL,
	cid      TEXT NOT NULL,
	UNIQUE (share_id, rel_path)
);
CREATE INDEX share_files_cid ON share_files(cid);
CREATE TABLE share_chunks (
	file_id INTEGER NOT NULL REFERENCES share_files(id) ON DELETE CASCADE,
	idx     INTEGER NOT NULL,
	key     INTEGER NOT NULL,
	PRIMARY KEY (file_id, idx)
) WITHOUT ROWID;
CREATE INDEX share_chunks_key ON share_chunks(key);
CREATE TABLE share_manifests (
	cid  TEXT PRIMARY KEY,
	data BLOB NOT NULL
) WITHOUT ROWID;
`},
	// The identity (device, inode) of each file as hashed: a chunk is
	// served only from a descriptor whose identity matches. Rows from
	// before have none (0, 0), so they are rehashed on the next index and
	// not served until then.
	{Version: 2, SQL: `
ALTER TABLE share_files ADD COLUMN file_dev INTEGER NOT NULL DEFAULT 0;
ALTER TABLE share_files ADD COLUMN file_ino INTEGER NOT NULL DEFAULT 0;
`},
}
