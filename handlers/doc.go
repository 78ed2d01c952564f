// Package handlers holds ready-made [jetpool.Handler]s that hand each job to
// something outside the Go program: [Exec] runs a program per job, [HTTP]
// POSTs each payload to a URL, and [Builtin] gives the no-op, sleeping and
// failing handlers that tests and benchmarks use. The jetpool command's
// `work --exec`, `--http` and `--builtin` are these handlers.
package handlers
