-- Identification risk of a partially synthetic release (Reiter and Mitra 2009): for each target record, c = the
-- number of released records that agree with it on the intruder's known variables, i = 1 when its own released
-- record (linked by the identifier) is among them, linked = 1 when it has a released record at all. One row per
-- (c, i, linked) with the number of targets; synthsql.metrics.match_risk sums them into EMR, TMR and FMR.
-- original AS o: the original records (the targets, as the intruder knows them); synthetic AS s: the release.
-- $original_key / $synthetic_key: the known variables as ONE text expression, never NULL (NULL is a value);
-- $original_id / $synthetic_id: the identifier that partial synthesis keeps; $target_filter: which original
-- records are targets (TRUE for all of them).
WITH released AS (
  SELECT $synthetic_id AS id, $synthetic_key AS k
  FROM synthetic AS s
), released_classes AS (
  SELECT k, COUNT(*) AS c
  FROM released
  GROUP BY k
), targets AS (
  SELECT $original_id AS id, $original_key AS k
  FROM original AS o
  WHERE $target_filter
), matches AS (
  SELECT
    COALESCE(rc.c, 0) AS c,
    CASE WHEN r.k = t.k THEN 1 ELSE 0 END AS i,
    CASE WHEN r.id IS NULL THEN 0 ELSE 1 END AS linked
  FROM targets AS t
  LEFT JOIN released_classes AS rc
    ON t.k = rc.k
  LEFT JOIN released AS r
    ON t.id = r.id
)
SELECT c, i, linked, COUNT(*) AS n
FROM matches
GROUP BY c, i, linked
ORDER BY c, i, linked
