/* l-diversity of one target: per key class the number l of distinct target values (NULL counts as a value), */
/* one row per (side, l) with the number of classes. $original_key / $synthetic_key and */
/* $original_target / $synthetic_target are text expressions that are never NULL. */
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
    COUNT(
      DISTINCT CAST(CAST(CASE
        WHEN "o"."income" = 0.0
        THEN 0
        WHEN (
          "o"."income" >= 0.0
        ) AND (
          "o"."income" < 1000.0
        )
        THEN 1
        WHEN (
          "o"."income" >= 1000.0
        )
        AND (
          (
            "o"."income" < 5000.0
          ) OR (
            "o"."income" = 5000.0
          )
        )
        THEN 2
        ELSE 3
      END AS INT) AS TEXT)
    ) AS "l"
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
    COUNT(
      DISTINCT CAST(CAST(CASE
        WHEN "s"."income" = 0.0
        THEN 0
        WHEN (
          "s"."income" >= 0.0
        ) AND (
          "s"."income" < 1000.0
        )
        THEN 1
        WHEN (
          "s"."income" >= 1000.0
        )
        AND (
          (
            "s"."income" < 5000.0
          ) OR (
            "s"."income" = 5000.0
          )
        )
        THEN 2
        ELSE 3
      END AS INT) AS TEXT)
    ) AS "l"
  FROM "synth"."Persons" AS "s" /* synthetic */
  GROUP BY
    1
)
SELECT
  'original' AS "side",
  "l",
  COUNT(*) AS "classes"
FROM "original_classes"
GROUP BY
  "l"
UNION ALL
SELECT
  'synthetic' AS "side",
  "l",
  COUNT(*) AS "classes"
FROM "synthetic_classes"
GROUP BY
  "l"
ORDER BY
  "side",
  "l"
