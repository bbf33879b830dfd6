// Package catalog reads PostgreSQL's system catalogs: a relation's kind,
// its columns with their types in order, its primary key or the unique index
// that can stand in for one, and its indexes. It returns plain data; the
// replication package turns absences into typed errors.
package catalog
