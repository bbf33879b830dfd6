package dml_test

import (
	"context"
	"fmt"
	"time"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Read a logical job's slot into the destination's spool while the source
// changes, so that the refresh applies changes already decoded.
func ExampleReplicator_Spool() {
	ctx := context.Background()
	dbs := pgtest.MustExample(ctx, 2)
	defer dbs.Close()
	source, dest := dbs.Pools[0], dbs.Pools[1]
	if _, err := source.Exec(ctx, `CREATE TABLE events (id int PRIMARY KEY, kind text NOT NULL);
		INSERT INTO events VALUES (1, 'open'), (2, 'open')`); err != nil {
		fmt.Println(err)
		return
	}
	r, err := dml.New(source, dest, replication.T("public", "events"), &dml.Config{
		Capture: dml.CaptureLogical,
		Logical: dml.LogicalConfig{PollInterval: 50 * time.Millisecond},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := r.Setup(ctx); err != nil {
		fmt.Println(err)
		return
	}

	spoolCtx, stop := context.WithCancel(ctx)
	defer stop()
	spooled := make(chan error, 1)
	go func() { spooled <- r.Spool(spoolCtx) }()

	if _, err := source.Exec(ctx, `UPDATE events SET kind = 'closed' WHERE id = 1;
		INSERT INTO events VALUES (3, 'open')`); err != nil {
		fmt.Println(err)
		return
	}
	// A refresh applies what Spool has read; Spool reads the changes
	// within its poll interval.
	applied := int64(0)
	for deadline := time.Now().Add(time.Minute); applied < 2 && time.Now().Before(deadline); {
		res, err := r.Refresh(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		applied += res.Inserted + res.Updated
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Printf("applied %d changes\n", applied)
	printRows(ctx, dest, `SELECT id || ' ' || kind FROM events ORDER BY id`)

	stop()
	fmt.Println("spool:", <-spooled)
	if err := r.Destroy(ctx, nil); err != nil {
		fmt.Println(err)
	}
	// Output:
	// applied 2 changes
	//   1 closed
	//   2 open
	//   3 open
	// spool: <nil>
}
