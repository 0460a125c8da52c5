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
        CAST("o"."age" AS DOUBLE) >= 0
      ) AND (
        CAST("o"."age" AS DOUBLE) < 30
      )
      THEN 0
      WHEN (
        CAST("o"."age" AS DOUBLE) >= 30
      )
      AND (
        (
          CAST("o"."age" AS DOUBLE) < 100
        ) OR (
          CAST("o"."age" AS DOUBLE) = 100
        )
      )
      THEN 1
      ELSE 2
    END AS INT) AS TEXT) AS "k",
    COUNT(
      DISTINCT CAST(CAST(CASE
        WHEN "o"."income" = 0
        THEN 0
        WHEN (
          "o"."income" >= 0
        ) AND (
          "o"."income" < 1000
        )
        THEN 1
        WHEN (
          "o"."income" >= 1000
        )
        AND (
          (
            "o"."income" < 5000
          ) OR (
            "o"."income" = 5000
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
        CAST("s"."age" AS DOUBLE) >= 0
      ) AND (
        CAST("s"."age" AS DOUBLE) < 30
      )
      THEN 0
      WHEN (
        CAST("s"."age" AS DOUBLE) >= 30
      )
      AND (
        (
          CAST("s"."age" AS DOUBLE) < 100
        ) OR (
          CAST("s"."age" AS DOUBLE) = 100
        )
      )
      THEN 1
      ELSE 2
    END AS INT) AS TEXT) AS "k",
    COUNT(
      DISTINCT CAST(CAST(CASE
        WHEN "s"."income" = 0
        THEN 0
        WHEN (
          "s"."income" >= 0
        ) AND (
          "s"."income" < 1000
        )
        THEN 1
        WHEN (
          "s"."income" >= 1000
        )
        AND (
          (
            "s"."income" < 5000
          ) OR (
            "s"."income" = 5000
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
