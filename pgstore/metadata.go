package pgstore

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/tasklife/tasklife"
)

// metadataStatement patches labels ($2 keys to delete, $3 keys to set as
// jsonb) and annotations ($4, $5) of task $1 in one UPDATE, which writes
// only when the maps change. The new maps are computed from the row the
// UPDATE writes, after any wait for a concurrent writer (READ COMMITTED
// re-reads it), so concurrent patches and transitions lose nothing. When
// it writes nothing, the second branch reads the row as of the statement's
// snapshot. No row means no task.
func metadataStatement(tasks string) string {
	patched := func(col, del, set string) string {
		return `NULLIF((coalesce(` + col + `, '{}'::jsonb) - ` + del + `::text[]) || coalesce(` + set + `::jsonb, '{}'::jsonb), '{}'::jsonb)`
	}
	labels := patched("labels", "$2", "$3")
	annotations := patched("annotations", "$4", "$5")
	return `WITH upd AS (
	UPDATE ` + tasks + `
	SET labels = ` + labels + `, annotations = ` + annotations + `,
		version = version + 1, updated_at = ` + nextUpdatedAt + `
	WHERE guid = $1 AND (labels IS DISTINCT FROM ` + labels + ` OR annotations IS DISTINCT FROM ` + annotations + `)
	RETURNING ` + columns + `
)
SELECT ` + columns + ` FROM upd
UNION ALL
SELECT ` + columns + ` FROM ` + tasks + ` WHERE guid = $1 AND NOT EXISTS (SELECT FROM upd)`
}

// splitPatch is a patch map as the keys it deletes and the object it sets.
func splitPatch(patch map[string]*string) ([]string, *string, error) {
	del := []string{}
	set := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(patch)) {
		if v := patch[k]; v == nil {
			del = append(del, k)
		} else {
			set[k] = *v
		}
	}
	obj, err := jsonMap(set)
	return del, obj, err
}

// UpdateMetadata implements tasklife.Store in one statement.
func (o *ops) UpdateMetadata(ctx context.Context, guid string, patch tasklife.MetadataPatch) (*tasklife.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ldel, lset, err := splitPatch(patch.Labels)
	if err != nil {
		return nil, err
	}
	adel, aset, err := splitPatch(patch.Annotations)
	if err != nil {
		return nil, err
	}
	t, err := scanTask(o.db.QueryRow(ctx, o.sql.updateMetadata, guid, ldel, lset, adel, aset))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, tasklife.ErrNotFound
	}
	if err != nil {
		return nil, classify(ctx, "update metadata", err)
	}
	return t, nil
}
