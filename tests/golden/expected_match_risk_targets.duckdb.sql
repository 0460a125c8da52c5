/* Identification risk of a partially synthetic release (Reiter and Mitra 2009): for each target record, c = the */
/* number of released records that agree with it on the intruder's known variables, i = 1 when its own released */
/* record (linked by the identifier) is among them, linked = 1 when it has a released record at all. One row per */
/* (c, i, linked) with the number of targets; synthsql.metrics.match_risk sums them into EMR, TMR and FMR. */
/* original AS o: the original records (the targets, as the intruder knows them); synthetic AS s: the release. */
/* $original_key / $synthetic_key: the known variables as ONE text expression, never NULL (NULL is a value); */
/* $original_id / $synthetic_id: the identifier that partial synthesis keeps; $target_filter: which original */
/* records are targets (TRUE for all of them). */
WITH "released" AS (
  SELECT
    "s"."pid" AS "id",
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
    END AS INT) AS TEXT) || '|' || CAST(CAST(CASE
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
    END AS INT) AS TEXT) AS "k"
  FROM "synth"."Persons" AS "s" /* synthetic */
), "released_classes" AS (
  SELECT
    "k",
    COUNT(*) AS "c"
  FROM "released"
  GROUP BY
    "k"
), "targets" AS (
  SELECT
    "o"."pid" AS "id",
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
    END AS INT) AS TEXT) || '|' || CAST(CAST(CASE
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
    END AS INT) AS TEXT) AS "k"
  FROM "persons" AS "o" /* original */
  WHERE
    "o"."pid" IN (3, 7, 11)
), "matches" AS (
  SELECT
    COALESCE("rc"."c", 0) AS "c",
    CASE WHEN "r"."k" = "t"."k" THEN 1 ELSE 0 END AS "i",
    CASE WHEN "r"."id" IS NULL THEN 0 ELSE 1 END AS "linked"
  FROM "targets" AS "t"
  LEFT JOIN "released_classes" AS "rc"
    ON "t"."k" = "rc"."k"
  LEFT JOIN "released" AS "r"
    ON "t"."id" = "r"."id"
)
SELECT
  "c",
  "i",
  "linked",
  COUNT(*) AS "n"
FROM "matches"
GROUP BY
  "c",
  "i",
  "linked"
ORDER BY
  "c",
  "i",
  "linked"
