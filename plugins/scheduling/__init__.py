"""The scheduling plugin: practitioners' weekly availability, the Schedule and Slot resources
generated from it over a rolling horizon, and race-free booking of Appointments."""
