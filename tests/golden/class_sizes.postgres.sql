/* The distribution of equivalence-class sizes on the key, in each table: one row per (side, size) with the */
/* number of classes of that size. $original_key / $synthetic_key as in key_matches.sql. */
WITH "original_classes" AS (
  SELECT
    CASE
      WHEN CAST("o"."sex" AS TEXT) IS NULL
      THEN 'N'
      ELSE CAST(LENGTH(CAST("o"."sex" AS TEXT)) AS TEXT) || ':' || CAST("o"."sex" AS TEXT)
    END || '|' || CAST(CAST(CASE
      WHEN (
        CAST("o"."age" AS DOUBLE PRECISION) >= 0
      )
      AND (
        CAST("o"."age" AS DOUBLE PRECISION) < 30
      )
      THEN 0
      WHEN (
        CAST("o"."age" AS DOUBLE PRECISION) >= 30
      )
      AND (
        (
          CAST("o"."age" AS DOUBLE PRECISION) < 100
        )
        OR (
          CAST("o"."age" AS DOUBLE PRECISION) = 100
        )
      )
      THEN 1
      ELSE 2
    END AS INT) AS TEXT) AS "k",
    COUNT(*) AS "n"
  FROM "persons" AS "o" /* original */
  GROUP BY
    1
), "synthetic_classes" AS (
  SELECT
    CASE
      WHEN CAST("s"."sex" AS TEXT) IS NULL
      THEN 'N'
      ELSE CAST(LENGTH(CAST("s"."sex" AS TEXT)) AS TEXT) || ':' || CAST("s"."sex" AS TEXT)
    END || '|' || CAST(CAST(CASE
      WHEN (
        CAST("s"."age" AS DOUBLE PRECISION) >= 0
      )
      AND (
        CAST("s"."age" AS DOUBLE PRECISION) < 30
      )
      THEN 0
      WHEN (
        CAST("s"."age" AS DOUBLE PRECISION) >= 30
      )
      AND (
        (
          CAST("s"."age" AS DOUBLE PRECISION) < 100
        )
        OR (
          CAST("s"."age" AS DOUBLE PRECISION) = 100
        )
      )
      THEN 1
      ELSE 2
    END AS INT) AS TEXT) AS "k",
    COUNT(*) AS "n"
  FROM "synth"."Persons" AS "s" /* synthetic */
  GROUP BY
    1
)
SELECT
  'original' AS "side",
  "n" AS "size",
  COUNT(*) AS "classes"
FROM "original_classes"
GROUP BY
  "n"
UNION ALL
SELECT
  'synthetic' AS "side",
  "n" AS "size",
  COUNT(*) AS "classes"
FROM "synthetic_classes"
GROUP BY
  "n"
ORDER BY
  "side",
  "size"
