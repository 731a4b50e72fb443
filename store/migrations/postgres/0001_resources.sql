-- One row per resource. Times are unix microseconds (UTC); spec and labels are JSON text.
-- The key columns use the "C" collation so that ORDER BY sorts by bytes, as the memory and
-- SQLite backends do, whatever locale the database was created with.
CREATE TABLE resources (
    kind              TEXT COLLATE "C" NOT NULL,
    mesh              TEXT COLLATE "C" NOT NULL,
    name              TEXT COLLATE "C" NOT NULL,
    version           BIGINT NOT NULL,
    spec              TEXT   NOT NULL,
    labels            TEXT   NOT NULL,
    creation_time     BIGINT NOT NULL,
    modification_time BIGINT NOT NULL,
    PRIMARY KEY (kind, mesh, name)
);

-- delete_mesh removes every record of a mesh, whatever its kind.
CREATE INDEX resources_mesh ON resources (mesh);
