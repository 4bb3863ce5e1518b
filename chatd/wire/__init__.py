"""What goes on the wire: frame builders, the frames' schemas, number fields."""
