package main

import (
	"fmt"
	"strings"

	"github.com/pgmimeo/pgmimeo/jobmon"
)

// perfLabels are the counts reported as performance data, in order.
var perfLabels = []string{"critical", "warning", "failed_run", "missing", "running", "blocked"}

// report turns CheckJobStatus's rows (worst first) into the exit code and
// the status line.
func report(alerts []jobmon.Alert) (int, string) {
	counts := map[string]int{}
	worst := jobmon.LevelOK
	var problems []string
	for _, a := range alerts {
		if a.Code <= jobmon.LevelOK {
			continue
		}
		worst = max(worst, a.Code)
		if a.Code >= jobmon.LevelCritical {
			counts["critical"]++
		} else {
			counts["warning"]++
		}
		counts[strings.ToLower(a.Status)]++
		problems = append(problems, fmt.Sprintf("%s (%s): %s", a.JobName, a.Status, a.Text))
	}
	var perf []string
	for _, label := range perfLabels {
		perf = append(perf, fmt.Sprintf("%s=%d;;;0", label, counts[label]))
	}
	code, word := exitOK, "OK"
	text := "All jobs run successfully"
	switch {
	case worst >= jobmon.LevelCritical:
		code, word = exitCritical, "CRITICAL"
	case worst == jobmon.LevelWarning:
		code, word = exitWarning, "WARNING"
	}
	if len(problems) > 0 {
		text = strings.Join(problems, "; ")
	}
	return code, service + " " + word + " - " + oneLine(text) + " | " + strings.Join(perf, " ")
}

// details is the verbose output: one line per problem job.
func details(alerts []jobmon.Alert) []string {
	var out []string
	for _, a := range alerts {
		if a.Code <= jobmon.LevelOK {
			continue
		}
		out = append(out, oneLine(fmt.Sprintf("%s: %s, level %d: %s", a.JobName, a.Status, a.Code, a.Text)))
	}
	return out
}
