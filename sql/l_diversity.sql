-- l-diversity of one target: per key class the number l of distinct target values (NULL counts as a value),
-- one row per (side, l) with the number of classes. $original_key / $synthetic_key and
-- $original_target / $synthetic_target are text expressions that are never NULL.
WITH original_classes AS (
  SELECT $original_key AS k, COUNT(DISTINCT $original_target) AS l
  FROM original AS o
  GROUP BY 1
), synthetic_classes AS (
  SELECT $synthetic_key AS k, COUNT(DISTINCT $synthetic_target) AS l
  FROM synthetic AS s
  GROUP BY 1
)
SELECT 'original' AS side, l, COUNT(*) AS classes
FROM original_classes
GROUP BY l
UNION ALL
SELECT 'synthetic' AS side, l, COUNT(*) AS classes
FROM synthetic_classes
GROUP BY l
ORDER BY side, l
