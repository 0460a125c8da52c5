/* Equivalence classes of one key in the original and the synthetic table, joined on the key. */
/* $original_key / $synthetic_key: ONE text expression per row that encodes the key columns (NULL is a value */
/* of its own, never NULL itself), over the aliases o and s. Used for the key variables (UiO, UiS, repU) and for */
/* whole rows (exact matches). */
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
  CAST(COALESCE(SUM("oc"."n"), 0) AS BIGINT) AS "original_rows",
  CAST(COALESCE(SUM("sc"."n"), 0) AS BIGINT) AS "synthetic_rows",
  COUNT("oc"."n") AS "original_classes",
  COUNT("sc"."n") AS "synthetic_classes",
  COUNT(CASE WHEN "oc"."n" = 1 THEN 1 END) AS "original_uniques",
  COUNT(CASE WHEN "sc"."n" = 1 THEN 1 END) AS "synthetic_uniques",
  COUNT(CASE WHEN "oc"."n" = 1 AND "sc"."n" = 1 THEN 1 END) AS "replicated_uniques",
  COUNT(CASE WHEN "oc"."n" = 1 AND NOT "sc"."n" IS NULL THEN 1 END) AS "original_uniques_matched",
  CAST(COALESCE(SUM(CASE WHEN NOT "sc"."n" IS NULL THEN "oc"."n" END), 0) AS BIGINT) AS "original_rows_matched",
  CAST(COALESCE(SUM(CASE WHEN NOT "oc"."n" IS NULL THEN "sc"."n" END), 0) AS BIGINT) AS "synthetic_rows_matched",
  CAST(COALESCE(SUM(CASE WHEN "oc"."n" = 1 THEN "sc"."n" END), 0) AS BIGINT) AS "synthetic_rows_matching_uniques"
FROM "original_classes" AS "oc"
FULL OUTER JOIN "synthetic_classes" AS "sc"
  ON "oc"."k" = "sc"."k"
