// Package e2e holds checkout's end-to-end tests: real redis-server, edges as
// real child processes (the test binary re-executed) that tests SIGKILL.
package e2e
