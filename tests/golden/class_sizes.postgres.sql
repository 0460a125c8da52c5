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
        "o"."age" >= 0
      ) AND (
        "o"."age" < 30
      )
      THEN 0
      WHEN (
        "o"."age" >= 30
      )
      AND (
        (
          "o"."age" < 100
        ) OR (
          "o"."age" = 100
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
        "s"."age" >= 0
      ) AND (
        "s"."age" < 30
      )
      THEN 0
      WHEN (
        "s"."age" >= 30
      )
      AND (
        (
          "s"."age" < 100
        ) OR (
          "s"."age" = 100
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
