"""The ESS side: read a European Social Survey Stata file, validate it, stage it, load it into ess.respondents."""
