-- One row per resource. Times are unix microseconds (UTC); spec and labels are JSON text.
-- SQLite's default BINARY collation sorts the key columns by bytes, as the memory backend does.
CREATE TABLE resources (
    kind              TEXT    NOT NULL,
    mesh              TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    version           INTEGER NOT NULL,
    spec              TEXT    NOT NULL,
    labels            TEXT    NOT NULL,
    creation_time     INTEGER NOT NULL,
    modification_time INTEGER NOT NULL,
    PRIMARY KEY (kind, mesh, name)
);

-- delete_mesh removes every record of a mesh, whatever its kind.
CREATE INDEX resources_mesh ON resources (mesh);
