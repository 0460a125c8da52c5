-- Equivalence classes of one key in the original and the synthetic table, joined on the key.
-- $original_key / $synthetic_key: ONE text expression per row that encodes the key columns (NULL is a value
-- of its own, never NULL itself), over the aliases o and s. Used for the key variables (UiO, UiS, repU) and for
-- whole rows (exact matches).
WITH original_classes AS (
  SELECT $original_key AS k, COUNT(*) AS n
  FROM original AS o
  GROUP BY 1
), synthetic_classes AS (
  SELECT $synthetic_key AS k, COUNT(*) AS n
  FROM synthetic AS s
  GROUP BY 1
)
SELECT
  CAST(COALESCE(SUM(oc.n), 0) AS BIGINT) AS original_rows,
  CAST(COALESCE(SUM(sc.n), 0) AS BIGINT) AS synthetic_rows,
  COUNT(oc.n) AS original_classes,
  COUNT(sc.n) AS synthetic_classes,
  COUNT(CASE WHEN oc.n = 1 THEN 1 END) AS original_uniques,
  COUNT(CASE WHEN sc.n = 1 THEN 1 END) AS synthetic_uniques,
  COUNT(CASE WHEN oc.n = 1 AND sc.n = 1 THEN 1 END) AS replicated_uniques,
  COUNT(CASE WHEN oc.n = 1 AND sc.n IS NOT NULL THEN 1 END) AS original_uniques_matched,
  CAST(COALESCE(SUM(CASE WHEN sc.n IS NOT NULL THEN oc.n END), 0) AS BIGINT) AS original_rows_matched,
  CAST(COALESCE(SUM(CASE WHEN oc.n IS NOT NULL THEN sc.n END), 0) AS BIGINT) AS synthetic_rows_matched,
  CAST(COALESCE(SUM(CASE WHEN oc.n = 1 THEN sc.n END), 0) AS BIGINT) AS synthetic_rows_matching_uniques
FROM original_classes AS oc
FULL OUTER JOIN synthetic_classes AS sc
  ON oc.k = sc.k
