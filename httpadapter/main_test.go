package httpadapter_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: long
// polls and event streams must end with their requests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
