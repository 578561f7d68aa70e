// Package compute runs volunteer computations, the SETI@home / Popular Power
// part of peerpath: a submitter splits a job into work units, peers' workers
// run them in the wasm sandbox (package compute/sandbox), results are
// cross-checked before they are accepted, and workers are paid.
//
// One Service per node plays both roles: the scheduler of the node's own
// jobs (Submit, Status, Jobs, Results, Cancel) and the node's worker
// (SetWorker, WorkerStatus), which runs other peers' units and, when it is
// on, the node's own.
//
// # Jobs
//
// A job is a WASI preview 1 command module plus units: one per input (the
// input is the unit's stdin) or Count units (unit i gets PEERPATH_UNIT=i in
// its environment and i as its last argument, after the job's Args). A
// unit's result is its stdout.
//
// # Content
//
// The module and the inputs travel as content, through the sharing layer's
// ids and verified chunks: Submit publishes the module and each non-empty
// input (at most MaxModuleBytes and MaxInput) through Config.Content, which
// the node implements over its share and transfer services, and a unit
// names them by content id and size. A worker checks the sizes against
// those limits before it fetches anything, fetches through Content (the
// submitter is a known provider; any other peer holding the id serves too,
// and every chunk is verified on arrival), and keeps compiled modules by
// content id. A result of at most InlineResult (64 KiB) comes back inline;
// a larger one (up to MaxOutput) is published by the worker, fetched by the
// submitter by id, and hashed for the quorum like an inline one; the worker
// unpublishes it once the submitter acknowledged the result. The package
// does not import share or transfer: Content is declared here, the node
// implements it, and the package's tests and the benchmark (computebench)
// use an in-memory network (memcontent), both held to the conformance
// suite in computetest.
//
// Published content lives in the node's home (HOME/compute/blobs), so a
// restarted submitter serves it again. A sweep unpublishes what is no
// longer needed: the content of jobs that ended (when they end), and, at
// start, what a crash left (jobs that never got recorded, outputs of
// attempts that are over).
//
// # Protocol
//
// Adverts. The submitter publishes a small JSON advert of every active job
// on the GossipSub topic Topic ("/peerpath/jobs/1") when the job is
// submitted and every few seconds after: job id, submitter, reward, memory
// and time limits, unit count, and the module's content id and size
// (advert version 2).
// GossipSub signs every message with its author's key and checks the
// signature on arrival (strict signing, the default), and a worker accepts
// an advert only when its verified author is the submitter it names, so an
// advert cannot send workers to a third party.
//
// Work. A worker that is on and has a free slot asks a job's submitter for
// work over the libp2p protocol Protocol ("/peerpath/compute/2.0.0"), one
// stream per request. Each message is a JSON header framed by p2p.WriteMsg
// (at most 64 KiB) followed, when the header announces one (only an inline
// result does), by a raw body frame whose size is checked against the
// header and InlineResult before it is read; content ids must name files
// and their sizes are checked against the limits above:
//
//	worker → submitter   {op:"work", job}
//	submitter → worker   {op:"unit", unit, attempt, args, env, memory, timeout_ms,
//	                      module, module_size, input?, input_size?}
//	                     or {op:"none", retry_ms}: nothing free now, ask later
//	                     or {op:"none", final}: job over, or this worker excluded
//	   ... the worker fetches the module and input, runs the unit,
//	       keeping the stream open ...
//	worker → submitter   {op:"result", attempt, hash} + stdout       (≤ 64 KiB)
//	                     or {op:"result", attempt, hash, output, output_size}
//	                     or {op:"result", attempt, err_kind, reason}
//	   ... the submitter fetches a published output ...
//	submitter → worker   {op:"ack"}
//
// The submitter recomputes the hash of every output it receives, inline or
// fetched. The open stream is the lease: if it breaks (the worker's node
// died or left) or stays silent past the unit's timeout plus a grace
// period and the time allowed for fetching, the unit is issued again; if
// the submitter takes the unit back (job cancelled or failed, worker
// excluded) it resets the stream, and the worker stops the unit at once.
// A worker that cannot fetch the module or the input reports the failure
// as not the module's fault (it counts no try) and backs off.
//
// # Validation and trust
//
// Each unit starts with Replication replicas on distinct workers (a worker
// never holds two replicas of one unit) and is accepted when Quorum of them
// returned identical output hashes; when they disagree, another replica is
// issued, until a quorum forms or the unit has had Replication+MaxTries
// results. Workers whose output matched the accepted one gain a validated
// result; the others gain an invalid one. A worker is excluded (asked to
// stop with a final "none", its running units taken back) once its wrong
// results exceed a twentieth of its validated ones.
//
// Adaptive replication, as BOINC does it: a worker with at least ten
// validated results and no invalid one is trusted, and a fresh unit handed
// to a trusted worker is, nine times in ten, a single copy accepted on
// that worker's word; the tenth is replicated as usual, a spot check that
// costs a cheater its trust the first time it is caught (single copies a
// trusted worker returned before it turned are not checked again, as in
// BOINC; TestSpotCheckCatchesTurncoat measures how many). Redundancy thus
// falls toward 1.1 executions per unit (measured: about 1.1 after a warm-up
// job; see computebench). Single copies do not add to a worker's record, so trust
// is earned only through results others confirmed. The submitter's own
// node is always trusted with its own units. Colluding workers that agree on
// the same wrong output defeat any quorum; only their exclusion once caught
// by honest workers limits them.
//
// Failures. A unit whose run fails (trap, timeout, memory, non-zero exit,
// output too large) counts a try, with the sandbox's reason; after MaxTries
// the unit fails and with it the job (state failed, reason shown). A
// worker that could not run the unit for reasons of its own (stopping,
// memory above its limit) does not count a try.
//
// # Payment
//
// When a unit is validated each worker whose output matched is owed the
// job's Reward (micro-credits); the submitter's own node is not. The debt
// is written to the database in the same transaction that accepts the
// unit (table compute_payments, key (jobID/unit, worker)), and the Payer,
// when set, pays it in the background, retrying failures; a line is marked
// paid only after Pay returns nil, so Pay must be idempotent per (worker,
// ref). Without a Payer the table is the account of what is owed
// (Service.Payments).
//
// # Persistence
//
// All job state lives in SQLite (component "compute"): jobs with the
// content ids and sizes of their modules and inputs (the bytes are
// published content, see above), units, validated and unconfirmed
// outputs, worker records and payments. In-flight assignments are not
// stored: a restarted submitter issues every unfinished unit again, and
// results already received count. Jobs still active when the database
// moved to content ids (migration 2) end, failed, with the reason.
//
// # Workers
//
// WorkerConfig.CPUs units run at once. With IdleOnly, the worker takes new
// units only while the machine's own load (CPU time of every other process,
// from /proc/stat and this process's rusage) leaves cores idle, and pauses
// (running units finish) while it does not, the screen-saver way.
package compute
