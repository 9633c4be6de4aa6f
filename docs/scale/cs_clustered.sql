-- Callaway & Sant'Anna without covariates, standard errors clustered: per cluster,
-- cohort and period, the units and the sum of their outcomes, less the period's mean
-- (which keeps the sums well conditioned and changes no estimate).
WITH means AS (
    SELECT period, AVG(y) AS mean_y FROM panel GROUP BY period
),
units AS (
    SELECT unit, MIN(cluster) AS cluster, COALESCE(MAX(cohort), 0) AS cohort
    FROM panel
    GROUP BY unit
)
SELECT u.cluster AS cluster,
       u.cohort AS cohort,
       p.period AS period,
       COUNT(*) AS units,
       SUM(p.y - m.mean_y) AS sum_y
FROM panel p
JOIN units u ON p.unit = u.unit
JOIN means m ON p.period = m.period
GROUP BY u.cluster, u.cohort, p.period
