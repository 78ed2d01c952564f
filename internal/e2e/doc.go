// Package e2e holds jetpool's end-to-end suites. It has no code of its own,
// only tests, which run the jetpool command as separate OS processes (built
// once per run by internal/proctest) against real brokers, and inject real
// faults:
//
//   - faults_test.go, TestFaults: the fault suite. Workers and brokers are
//     killed (SIGKILL, SIGTERM), frozen (SIGSTOP), cut off, fed raw
//     messages and a full store; every job ID is counted outside jetpool and
//     any loss, or a report that disagrees with the IDs, fails it. Its short
//     version runs with the rest of the tests; JETPOOL_FAULTS=long runs
//     bigger batches and more repetitions.
//   - crash_test.go: `jetpool enqueue -` killed mid-stream and re-run, a
//     broker restart, a full stream, a three-node cluster losing its stream
//     leader.
//   - observe_test.go, work_signal_test.go: worker processes' metrics,
//     registry and status; a worker interrupted twice.
//   - readme_test.go: the README's quick start built and run, and its
//     recipe for using jetpool from another module.
//   - compose_test.go, TestCompose: the docker compose stack driven as an
//     operator would. It needs a Docker engine, make and docker compose, so
//     it is skipped unless JETPOOL_COMPOSE=1 (or JETPOOL_E2E=docker) is set.
//
// `go test ./...` runs all of them but TestCompose, the fault suite in its
// short version. To run them alone:
//
//	go test -race -count=1 -v -run TestFaults ./internal/e2e/
//	JETPOOL_FAULTS=long go test -race -count=1 -v -timeout 30m -run TestFaults ./internal/e2e/
//	JETPOOL_COMPOSE=1 go test -count=1 -run TestCompose -v -timeout 20m ./internal/e2e/
//
// The integration tests of the command's ordinary use stay in the module's
// root (integration_test.go).
package e2e
