package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// pluginPackage is the plugin's import path.
const pluginPackage = "github.com/pgmimeo/pgmimeo/jobmon/cmd/check_job_status"

// buildPlugin builds the plugin into dir.
func buildPlugin(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "check_job_status")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, pluginPackage).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %w: %s (or give -plugin)", pluginPackage, err, out)
	}
	return bin, nil
}

// runPlugin runs the plugin as Nagios would, with the password in the
// environment, prints its line and exit code, and checks the exit code.
func runPlugin(ctx context.Context, plugin, dsn, password, schema string, wantExit int, stdout io.Writer) error {
	cmd := exec.CommandContext(ctx, plugin, "--dsn", dsn, "--schema", schema)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PGPASSWORD="+password)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  $ check_job_status --dsn '%s' --schema %s\n  %s  (exit %d)\n", dsn, schema, strings.TrimSpace(out.String()), code)
	if code != wantExit {
		return fmt.Errorf("the plugin exited %d, not %d: %s", code, wantExit, strings.TrimSpace(out.String()))
	}
	return nil
}
