"""Rules as pure, named, versioned functions of state and a proposed event."""
