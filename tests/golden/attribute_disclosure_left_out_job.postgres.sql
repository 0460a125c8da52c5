/* Attribute disclosure of one target from the key (synthpop disclosure(); Taub et al. 2018), in integers only. */
/* Counts per (key, target) cell and per key in each table; every original record is weighted by the size n_kt */
/* of its own (key, target) cell, so sums over cells are sums over original records. */
/* $original_key / $synthetic_key and $original_target / $synthetic_target are text expressions, never NULL. */
/* $original_left_out is a boolean expression over an original row: TRUE when its target value is a level left */
/* out of the attribute measures (synthpop's not.targetlev; FALSE when none is). It is the same for every row of a */
/* cell (x = 1 for the cell). A left-out record keeps its place in every class size (n_k, s_k, n_kt, s_kt) and */
/* every denominator, and adds 0 to every numerator: m_kt = n_kt, or 0 for a left-out cell. */
/* CAPd and DCAP are means of the ratios n_kt / n_k and s_kt / s_k, and a database adds floats in an order of its */
/* own (parallel and hash aggregation), so the last bits would change from run to run: the template returns */
/* integer numerators grouped by their denominator instead, and synthsql.metrics.risk divides once, exactly. */
/* One row per grouping set and group (part = 0, 1, 2): */
/*   part 0, ():    the record counts (records, dorig, disco, disdio, tcap_records, key_matched), base_cap (the */
/*                  sum of n_t * n_t over the target values not left out), left_out (records with a left-out */
/*                  target), and the most frequent target value of the original (top_target, top_records); */
/*   part 1, (n_k): size = n_k; cap_sum = the sum of m_kt * n_kt over the cells whose key has n_k records, so */
/*                  CAPd * N = the sum over these rows of cap_sum / size; */
/*   part 2, (s_k): size = s_k (NULL: keys absent from the synthetic data); dcap_sum = the sum of m_kt * s_kt, */
/*                  so DCAP * N = the sum over the rows with a size of dcap_sum / size. */
/* Parts 1 and 2 have one row per distinct class size: at most sqrt(2 N) + 1 and sqrt(2 S) + 2 rows. */
WITH "original_cells" AS (
  SELECT
    CASE
      WHEN CAST("o"."sex" AS TEXT) IS NULL
      THEN 'N'
      ELSE CAST(LENGTH(CAST("o"."sex" AS TEXT)) AS TEXT) || ':' || CAST("o"."sex" AS TEXT)
    END AS "k",
    CASE
      WHEN CAST("o"."job" AS TEXT) IS NULL
      THEN 'N'
      ELSE CAST(LENGTH(CAST("o"."job" AS TEXT)) AS TEXT) || ':' || CAST("o"."job" AS TEXT)
    END AS "y",
    MAX(CASE WHEN "o"."job" IN ('it''s', 'a') THEN 1 ELSE 0 END) AS "x",
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
    END AS "k",
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
    SUM("n") AS "n",
    MAX("x") AS "x"
  FROM "original_cells"
  GROUP BY
    "y"
), "records" AS (
  SELECT
    CAST("oc"."n" AS BIGINT) AS "n_kt",
    CAST(CASE WHEN "oc"."x" = 0 THEN "oc"."n" ELSE 0 END AS BIGINT) AS "m_kt",
    CAST("ok"."n" AS BIGINT) AS "n_k",
    "ok"."l" AS "l_orig",
    CAST(COALESCE("sc"."n", 0) AS BIGINT) AS "s_kt",
    CAST("sk"."n" AS BIGINT) AS "s_k",
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
  3 - GROUPING("n_k") - 2 * GROUPING("s_k") AS "part",
  CASE WHEN GROUPING("n_k") = 0 THEN "n_k" ELSE "s_k" END AS "size",
  CAST(SUM("n_kt") AS BIGINT) AS "records",
  CAST(SUM(CASE WHEN "l_orig" = 1 THEN "m_kt" ELSE 0 END) AS BIGINT) AS "dorig",
  CAST(SUM(CASE WHEN "l_syn" = 1 AND "s_kt" > 0 THEN "m_kt" ELSE 0 END) AS BIGINT) AS "disco",
  CAST(SUM(CASE WHEN "l_syn" = 1 AND "s_kt" > 0 AND "l_orig" = 1 THEN "m_kt" ELSE 0 END) AS BIGINT) AS "disdio",
  CAST(SUM(CASE WHEN "l_syn" = 1 THEN "n_kt" ELSE 0 END) AS BIGINT) AS "tcap_records",
  CAST(SUM(CASE WHEN NOT "s_k" IS NULL THEN "n_kt" ELSE 0 END) AS BIGINT) AS "key_matched",
  CAST(SUM("m_kt" * "n_kt") AS BIGINT) AS "cap_sum",
  CAST(SUM("m_kt" * "s_kt") AS BIGINT) AS "dcap_sum",
  (
    SELECT
      CAST(SUM(CASE WHEN "x" = 0 THEN "n" * "n" ELSE 0 END) AS BIGINT)
    FROM "original_targets"
  ) AS "base_cap",
  CAST(SUM("n_kt" - "m_kt") AS BIGINT) AS "left_out",
  (
    SELECT
      "y"
    FROM "original_targets"
    ORDER BY
      "n" DESC NULLS LAST,
      "y"
    LIMIT 1
  ) AS "top_target",
  (
    SELECT
      CAST(MAX("n") AS BIGINT)
    FROM "original_targets"
  ) AS "top_records"
FROM "records"
GROUP BY
  GROUPING SETS (
    (),
    (
      "n_k"
    ),
    (
      "s_k"
    )
  )
ORDER BY
  "part",
  "size" NULLS FIRST
