-- The distribution of equivalence-class sizes on the key, in each table: one row per (side, size) with the
-- number of classes of that size. $original_key / $synthetic_key as in key_matches.sql.
WITH original_classes AS (
  SELECT $original_key AS k, COUNT(*) AS n
  FROM original AS o
  GROUP BY 1
), synthetic_classes AS (
  SELECT $synthetic_key AS k, COUNT(*) AS n
  FROM synthetic AS s
  GROUP BY 1
)
SELECT 'original' AS side, n AS size, COUNT(*) AS classes
FROM original_classes
GROUP BY n
UNION ALL
SELECT 'synthetic' AS side, n AS size, COUNT(*) AS classes
FROM synthetic_classes
GROUP BY n
ORDER BY side, size
