/* For each probe record (_p), its two nearest reference records (_r) in each reference group (_g), as in */
/* nearest_records.sql, but among the reference rows BEYOND the seeded sample (beyond AS r: _g, _r, the prepared */
/* r<i>, and _copy and _block, the row's place in the hash order among the rows equal to it on every compared column */
/* and among the rows of its block), and only among each probe record's candidates: the rows $same_row as it (the */
/* first two: no more can be among its two nearest) and the first $block_rows rows $same_block; so at most */
/* $block_rows + 2 per probe record and side, whatever the size of the table. synthsql.metrics.distance builds the */
/* conditions (over p and r) and the mixed-type distance $distance of a pair. Ties go to the lower _r; one row per */
/* (_p, _g, rank _n = 0 or 1) with the distance _d. */
WITH "probe_rows" AS (
  SELECT
    *
  FROM (
    SELECT
      *
    FROM probe_rows
  ) AS "probe"
), "beyond_rows" AS (
  SELECT
    *
  FROM "synth"."beyond_rows" /* beyond */
), "candidates" AS (
  SELECT
    "p"."_p" AS "_p",
    "r"."_g" AS "_g",
    "r"."_r" AS "_r"
  FROM "probe_rows" AS "p"
  JOIN "beyond_rows" AS "r"
    ON "p"."t0" = "r"."r0" AND "p"."t1" = "r"."r1"
  WHERE
    "r"."_copy" < 2
  UNION
  SELECT
    "p"."_p" AS "_p",
    "r"."_g" AS "_g",
    "r"."_r" AS "_r"
  FROM "probe_rows" AS "p"
  JOIN "beyond_rows" AS "r"
    ON "p"."lc0" = "r"."rc0" AND "p"."t1" = "r"."r1"
  WHERE
    "r"."_block" < 200
), "pairs" AS (
  SELECT
    "c"."_p" AS "_p",
    "c"."_g" AS "_g",
    "c"."_r" AS "_r",
    CAST((
      LEAST(ABS("p"."t0" - "r"."r0"), CAST(1.0 AS DOUBLE PRECISION)) + CASE
        WHEN "p"."t1" = "r"."r1"
        THEN CAST(0.0 AS DOUBLE PRECISION)
        ELSE CAST(1.0 AS DOUBLE PRECISION)
      END
    ) / CAST(2.0 AS DOUBLE PRECISION) AS DOUBLE PRECISION) AS "_d"
  FROM "candidates" AS "c"
  JOIN "probe_rows" AS "p"
    ON "p"."_p" = "c"."_p"
  JOIN "beyond_rows" AS "r"
    ON "r"."_g" = "c"."_g" AND "r"."_r" = "c"."_r"
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
