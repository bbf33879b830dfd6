package incremental

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// sourceRead is one consistent read of the source: a REPEATABLE READ, READ
// ONLY transaction on a connection of its own, in which the bounds are
// computed and the rows copied, so that all of them see one snapshot.
type sourceRead struct {
	conn *pgxpool.Conn
	tx   pgx.Tx
	// snapshot is pg_current_snapshot() of the transaction, as text.
	snapshot string
	// xmax is the snapshot's xmax (a full 64-bit transaction id).
	xmax int64
}

func (j *job) openSource(ctx context.Context) (*sourceRead, error) {
	conn, err := j.source.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to source: %w", err)
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		conn.Release()
		return nil, fmt.Errorf("begin source transaction: %w", err)
	}
	s := &sourceRead{conn: conn, tx: tx}
	if err := tx.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&s.snapshot); err != nil {
		s.close(ctx)
		return nil, fmt.Errorf("read source snapshot: %w", err)
	}
	if s.xmax, err = snapshotXmax(s.snapshot); err != nil {
		s.close(ctx)
		return nil, err
	}
	return s, nil
}

// close ends the read. The transaction only read, so rolling it back loses
// nothing.
func (s *sourceRead) close(ctx context.Context) {
	_ = s.tx.Rollback(context.WithoutCancel(ctx))
	s.conn.Release()
}

// snapshotXmax parses the xmax of a pg_snapshot's text form "xmin:xmax:xip".
func snapshotXmax(snap string) (int64, error) {
	parts := strings.Split(snap, ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("unexpected snapshot %q", snap)
	}
	xmax, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("unexpected snapshot %q: %w", snap, err)
	}
	return xmax, nil
}

// upper returns the inclusive upper bound of a pull: the source's clock
// less the boundary for a Time job, the source's maximum less the boundary
// for a Serial job. ok is false when a Serial source table is empty.
func (j *job) upper(ctx context.Context, s *sourceRead, p *plan) (v string, ok bool, err error) {
	var text *string
	if p.ctl.typ == Time {
		expr := fmt.Sprintf("(now() - $1::bigint * interval '1 microsecond')::%s", p.ctl.col.Type)
		err = s.tx.QueryRow(ctx, "SELECT "+p.ctl.render(expr), j.cfg.Boundary.Microseconds()).Scan(&text)
	} else {
		expr := fmt.Sprintf("max(%s) - $1::bigint", p.ctl.ident())
		err = s.tx.QueryRow(ctx, "SELECT "+p.ctl.render(expr)+" FROM "+p.info.Table.Sanitize(), *j.cfg.SerialBoundary).Scan(&text)
	}
	if err != nil {
		return "", false, fmt.Errorf("read upper bound on source %s: %w", j.src, err)
	}
	if text == nil {
		return "", false, nil
	}
	if err := p.ctl.checkValue(j.src, *text); err != nil {
		return "", false, err
	}
	return *text, true, nil
}

// maxIn returns the highest control value among the source rows matching
// preds, nil when there is none.
func (j *job) maxIn(ctx context.Context, s *sourceRead, p *plan, preds ...string) (*string, error) {
	var v *string
	q := "SELECT " + p.ctl.render("max("+p.ctl.ident()+")") + " FROM " + p.info.Table.Sanitize() + p.where(preds...)
	if err := s.tx.QueryRow(ctx, q).Scan(&v); err != nil {
		return nil, fmt.Errorf("read highest control value on source %s: %w", j.src, err)
	}
	if v != nil {
		if err := p.ctl.checkValue(j.src, *v); err != nil {
			return nil, err
		}
	}
	return v, nil
}
