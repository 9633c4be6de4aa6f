-- Callaway & Sant'Anna without covariates, standard errors over units: per cohort and
-- pair of periods, the units, the sum of their outcomes in the first period and the sum
-- of the products of their outcomes in the two (each less its period's mean).
WITH means AS (
    SELECT period, AVG(y) AS mean_y FROM panel GROUP BY period
),
centred AS (
    SELECT p.unit AS unit, p.period AS period, p.y - m.mean_y AS y
    FROM panel p
    JOIN means m ON p.period = m.period
),
units AS (
    SELECT unit, COALESCE(MAX(cohort), 0) AS cohort FROM panel GROUP BY unit
)
SELECT u.cohort AS cohort,
       a.period AS period,
       b.period AS period2,
       COUNT(*) AS units,
       SUM(a.y) AS sum_y,
       SUM(a.y * b.y) AS sum_yy
FROM centred a
JOIN centred b ON a.unit = b.unit
JOIN units u ON a.unit = u.unit
GROUP BY u.cohort, a.period, b.period
