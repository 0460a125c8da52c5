/* For each probe record (_p), its two nearest reference records (_r) in each reference group (_g) on the */
/* mixed-type distance $distance of a pair (p, r), built by synthsql.metrics.distance from the compared columns */
/* (p.l<i> against r.r<i>): one row per (_p, _g, rank _n = 0 or 1) with the distance _d. Ties go to the reference */
/* record with the lower number _r, so the result is the same on every backend. DCR, NNDR, the closer-to-training */
/* share and the membership-inference attack read it. */
WITH "pairs" AS (
  SELECT
    "p"."_p" AS "_p",
    "r"."_g" AS "_g",
    "r"."_r" AS "_r",
    CAST((
      LEAST(ABS("p"."l0" - "r"."r0"), CAST(1.0 AS DOUBLE PRECISION)) + CASE
        WHEN "p"."l1" = "r"."r1"
        THEN CAST(0.0 AS DOUBLE PRECISION)
        ELSE CAST(1.0 AS DOUBLE PRECISION)
      END
    ) / CAST(2.0 AS DOUBLE PRECISION) AS DOUBLE PRECISION) AS "_d"
  FROM (
    SELECT
      *
    FROM probe_rows
  ) AS "p"
  CROSS JOIN "synth"."reference_rows" AS "r" /* reference */
), "ranked" AS (
  SELECT
    "_p",
    "_g",
    "_r",
    "_d",
    ROW_NUMBER() OVER (PARTITION BY "_p", "_g" ORDER BY "_d", "_r") - 1 AS "_n"
  FROM "pairs"
)
SELECT
  "_p",
  "_g",
  "_r",
  "_n",
  "_d"
FROM "ranked"
WHERE
  "_n" < 2
ORDER BY
  "_p",
  "_g",
  "_n"
