"""Homework: answer keys, grading, quizzes and the catalogue of common mistakes.

key.py reads keys, answers.py reads the notations answers come in, mistakes.py is the
catalogue of slips, grade.py marks a submission, report.py renders grades, quiz.py makes
problems. Every figure comes from archcalc.analysis (net.py); values from the NumPy backend.
"""
