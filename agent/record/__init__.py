"""Recording a person: the input and screen taps, gestures turned into actions, the recorder itself."""
