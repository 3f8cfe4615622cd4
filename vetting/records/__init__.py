"""Records over time: retention and disposal, legal holds, the candidate's notice and response."""
