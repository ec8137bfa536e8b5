"""What can be done to a desktop, and how it is checked and carried out.

This layer imports nothing else of deskpilot. It holds the closed action vocabulary
(Qwen2.5-VL's computer_use actions), screen geometry and capture, the executors behind the
`Computer` protocol, dispatch over the action union, and the safety gate. Everything here
speaks screen coordinates: pixels of the captured monitor image.
"""
