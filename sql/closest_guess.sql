-- Attribute inference (anonymeter-style): each attacked record (_side, _a; probe) guesses its secret target _s to
-- be the target _t of its nearest synthetic record (reference, numbered _r) on the key columns, by the mixed-type
-- distance $distance (p.l<i> against r.r<i>); ties go to the lower _r. $correct (over _s and _t) says whether a
-- guess is right. One row per side: the attacks and the correct guesses.
WITH pairs AS (
  SELECT p._side AS _side, p._a AS _a, p._s AS _s, r._t AS _t, r._r AS _r, $distance AS _d
  FROM probe AS p
  CROSS JOIN reference AS r
), best AS (
  SELECT _side, _s, _t, ROW_NUMBER() OVER (PARTITION BY _side, _a ORDER BY _d, _r) AS _n
  FROM pairs
)
SELECT _side, COUNT(*) AS attacks, SUM(CASE WHEN $correct THEN 1 ELSE 0 END) AS correct
FROM best
WHERE _n = 1
GROUP BY _side
ORDER BY _side
