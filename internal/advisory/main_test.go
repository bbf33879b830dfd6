package advisory_test

import (
	"testing"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
