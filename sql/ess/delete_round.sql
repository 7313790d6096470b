-- Remove one round before it is loaded again (inside the load transaction).
DELETE FROM ess.respondents WHERE essround = %s;
