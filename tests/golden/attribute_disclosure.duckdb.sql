/* Attribute disclosure of one target from the key (synthpop disclosure(); Taub et al. 2018), one row. */
/* Counts per (key, target) cell and per key in each table; every original record is weighted by the size n_kt */
/* of its own (key, target) cell, so sums over cells are sums over original records. */
/* $original_key / $synthetic_key and $original_target / $synthetic_target are text expressions, never NULL. */
WITH "original_cells" AS (
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
    CASE
      WHEN CAST("o"."job" AS TEXT) IS NULL
      THEN 'N'
      ELSE CAST(LENGTH(CAST("o"."job" AS TEXT)) AS TEXT) || ':' || CAST("o"."job" AS TEXT)
    END AS "y",
    COUNT(*) AS "n"
  FROM "persons" AS "o" /* original */
  GROUP BY
    1,
    2
), "synthetic_cells" AS (
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
    CASE
      WHEN CAST("s"."job" AS TEXT) IS NULL
      THEN 'N'
      ELSE CAST(LENGTH(CAST("s"."job" AS TEXT)) AS TEXT) || ':' || CAST("s"."job" AS TEXT)
    END AS "y",
    COUNT(*) AS "n"
  FROM "synth"."Persons" AS "s" /* synthetic */
  GROUP BY
    1,
    2
), "original_keys" AS (
  SELECT
    "k",
    SUM("n") AS "n",
    COUNT(*) AS "l"
  FROM "original_cells"
  GROUP BY
    "k"
), "synthetic_keys" AS (
  SELECT
    "k",
    SUM("n") AS "n",
    COUNT(*) AS "l"
  FROM "synthetic_cells"
  GROUP BY
    "k"
), "original_targets" AS (
  SELECT
    "y",
    SUM("n") AS "n"
  FROM "original_cells"
  GROUP BY
    "y"
), "records" AS (
  SELECT
    "oc"."n" AS "n_kt",
    "ok"."n" AS "n_k",
    "ok"."l" AS "l_orig",
    COALESCE("sc"."n", 0) AS "s_kt",
    "sk"."n" AS "s_k",
    "sk"."l" AS "l_syn"
  FROM "original_cells" AS "oc"
  JOIN "original_keys" AS "ok"
    ON "oc"."k" = "ok"."k"
  LEFT JOIN "synthetic_keys" AS "sk"
    ON "oc"."k" = "sk"."k"
  LEFT JOIN "synthetic_cells" AS "sc"
    ON "oc"."k" = "sc"."k" AND "oc"."y" = "sc"."y"
)
SELECT
  CAST(SUM("n_kt") AS BIGINT) AS "records",
  CAST(SUM(CASE WHEN "l_orig" = 1 THEN "n_kt" ELSE 0 END) AS BIGINT) AS "dorig",
  CAST(SUM(CASE WHEN "l_syn" = 1 AND "s_kt" > 0 THEN "n_kt" ELSE 0 END) AS BIGINT) AS "disco",
  CAST(SUM(CASE WHEN "l_syn" = 1 AND "s_kt" > 0 AND "l_orig" = 1 THEN "n_kt" ELSE 0 END) AS BIGINT) AS "disdio",
  CAST(SUM(CASE WHEN "l_syn" = 1 THEN "n_kt" ELSE 0 END) AS BIGINT) AS "tcap_records",
  CAST(SUM(CASE WHEN NOT "s_k" IS NULL THEN "n_kt" ELSE 0 END) AS BIGINT) AS "key_matched",
  SUM(CAST("n_kt" AS DOUBLE) * "n_kt" / "n_k") AS "cap_original",
  SUM(
    CASE WHEN NOT "s_k" IS NULL THEN CAST("n_kt" AS DOUBLE) * "s_kt" / "s_k" ELSE 0 END
  ) AS "dcap",
  (
    SELECT
      SUM(CAST("n" AS DOUBLE) * "n")
    FROM "original_targets"
  ) AS "base_cap"
FROM "records"
