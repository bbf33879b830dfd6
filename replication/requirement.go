package replication

// Requirement names one thing a replication kind needs of its source table,
// of the role that reads it, or of the source server. Each kind declares
// the requirements it has in its Method's Prerequisites; its Setup checks
// exactly those, and check.Preflight reports them, so the two cannot
// disagree.
type Requirement string

// The requirements a kind may have.
const (
	ReqSchemaUsage Requirement = "USAGE on the table's schema"
	ReqSelect      Requirement = "SELECT on the table"
	ReqKey         Requirement = "a primary key or unique index"
	ReqTimeControl Requirement = "a timestamp control column"
	// ReqSerialControl is an integer column that grows with every write.
	ReqSerialControl Requirement = "an integer control column"
	ReqTrigger       Requirement = "TRIGGER on the table"
	ReqQueueSchema   Requirement = "a schema for queue objects"
	ReqReplication   Requirement = "the REPLICATION attribute"
	ReqWalLevel      Requirement = "wal_level = logical"
	ReqSlot          Requirement = "a free replication slot"
	ReqWalSender     Requirement = "a free WAL sender"
	// ReqPublication is the right to create the job's own publication of
	// the table: ownership of the table and CREATE on the database.
	ReqPublication Requirement = "the right to publish the table"
	// ReqReplicaIdentity is a replica identity that carries the job's key
	// (the key's own index, or FULL).
	ReqReplicaIdentity Requirement = "a replica identity with the key"
	// ReqReplicaIdentityFull is REPLICA IDENTITY FULL, so that a deleted
	// row's values reach a logical capture that keeps deleted rows.
	ReqReplicaIdentityFull Requirement = "REPLICA IDENTITY FULL"
)

// Prerequisite is what one way of running a kind needs: the kind, whether
// it captures by logical decoding (only DML and LogDeletes can), and its
// requirements in the order they are checked.
type Prerequisite struct {
	Kind     Kind
	Logical  bool
	Requires []Requirement
}
